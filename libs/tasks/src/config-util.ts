// The shared shape of a task head's config validation: absent fields and empty arrays take the
// defaults, unknown fields and out-of-range values are errors naming `field.<name>`.
import type { z } from 'zod';

/** A config field that is out of range: the path, what it must be, and what it was. */
export class ConfigError extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`${path.join('.')}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
    this.name = 'ConfigError';
  }
}

export function resolveConfig<T extends object>(
  schema: z.ZodType,
  defaults: T,
  input: unknown,
  field: string,
  ErrorClass: new (path: readonly (string | number)[], expected: string, got: unknown) => ConfigError,
): T {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ErrorClass([field], 'an object', input);
  }
  const cleaned = Object.fromEntries(
    Object.entries(input).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  );
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      throw new ErrorClass(
        [field, issue.keys[0]],
        `a known field (${Object.keys(defaults).join(', ')})`,
        issue.keys[0],
      );
    }
    const key = issue.path[0] as string;
    const expected = issue.message.replace(/^expected /, '');
    throw new ErrorClass([field, key], expected, (cleaned as Record<string, unknown>)[key]);
  }
  const defined = Object.fromEntries(
    Object.entries(parsed.data as object).filter(([, v]) => v !== undefined),
  );
  return { ...defaults, ...defined } as T;
}
