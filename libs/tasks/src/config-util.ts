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
    super(`${fieldPath(path)}: expected ${expected}, got ${shown(got)}`);
    this.name = 'ConfigError';
  }
}

/** `detection.box_sizes[2]`-style: names joined by dots, list indices in brackets. */
function fieldPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** A value as a message shows it: JSON, except the numbers JSON cannot hold (NaN, ±Infinity). */
function shown(value: unknown): string {
  if (typeof value === 'number') return String(value);
  return JSON.stringify(value) ?? String(value);
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
    // The whole path, down to the element of a list that is wrong (`scales[2]`), and its value.
    const at = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    let got: unknown = cleaned;
    for (const key of at) got = (got as Record<string | number, unknown> | undefined)?.[key];
    const expected = issue.message.replace(/^expected /, '');
    throw new ErrorClass([field, ...at], expected, got);
  }
  const defined = Object.fromEntries(
    Object.entries(parsed.data as object).filter(([, v]) => v !== undefined),
  );
  return { ...defaults, ...defined } as T;
}
