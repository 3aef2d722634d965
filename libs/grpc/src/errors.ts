import { Metadata, status, type StatusObject } from '@grpc/grpc-js';

/** The longest rendering of an offending value in a message: hostile input must not flood logs or trailers. */
const MAX_VALUE_CHARS = 120;
/** Arrays (a tensor's values, say) are rendered from their first few items only. */
const MAX_ARRAY_ITEMS = 16;

/**
 * A failure a handler reports on purpose. Handlers only throw; `toGrpcStatus` is the one place
 * that turns errors into status codes, so each subclass just names its code.
 */
export abstract class DomainError extends Error {
  abstract readonly code: status;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The service does not implement the method (a test's stand-in serving part of a service). */
export class UnimplementedError extends DomainError {
  readonly code = status.UNIMPLEMENTED;
  constructor(method: string) {
    super(`${method} is not implemented here`);
  }
}

/** The request is wrong whatever the server's state: names the field and the value received. */
export class InvalidArgumentError extends DomainError {
  readonly code = status.INVALID_ARGUMENT;

  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`invalid ${field}=${formatValue(value)}: ${reason}`);
  }
}

/** A named thing does not exist, e.g. `new NotFoundError('search', id)`. */
export class NotFoundError extends DomainError {
  readonly code = status.NOT_FOUND;

  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`${kind} ${formatValue(id)} not found`);
  }
}

/** The request is valid but the target's state forbids it (cancelling a finished search). */
export class FailedPreconditionError extends DomainError {
  readonly code = status.FAILED_PRECONDITION;
}

/** A bounded resource is full (a queue, a quota); the client may retry later. */
export class ResourceExhaustedError extends DomainError {
  readonly code = status.RESOURCE_EXHAUSTED;
}

/** The call was cancelled (by the client, or by the server shutting down a stream). */
export class CancelledError extends DomainError {
  readonly code = status.CANCELLED;

  constructor(message = 'call cancelled') {
    super(message);
  }
}

/** The call's deadline passed before the work finished. */
export class DeadlineExceededError extends DomainError {
  readonly code = status.DEADLINE_EXCEEDED;

  constructor(message = 'deadline exceeded') {
    super(message);
  }
}

/** The service cannot answer now (a model still loading, the server draining); retrying may work. */
export class UnavailableError extends DomainError {
  readonly code = status.UNAVAILABLE;
}

/**
 * The call carries no valid credential (no token, an unknown one, no client certificate). The
 * message says which, and never quotes the credential.
 */
export class UnauthenticatedError extends DomainError {
  readonly code = status.UNAUTHENTICATED;
}

/**
 * The caller is authenticated but its role may not call this method (a user calling an endpoint
 * only the services call each other on).
 */
export class PermissionDeniedError extends DomainError {
  readonly code = status.PERMISSION_DENIED;
}

/** What `toGrpcStatus` needs of a logger: somewhere to put the stack of an unexpected error. */
export interface ErrorLogger {
  error(fields: object, message: string): void;
}

/**
 * The one mapping from anything a handler throws to the status the client sees. Domain errors
 * keep their code and message; an `AbortError` (from an API that observed the call's signal) is
 * CANCELLED; anything else is a bug: UNKNOWN with a generic message, and the stack goes to the log
 * rather than to the client.
 */
export function toGrpcStatus(error: unknown, logger: ErrorLogger): StatusObject {
  if (error instanceof DomainError) {
    return { code: error.code, details: error.message, metadata: new Metadata() };
  }
  // DOMException is not an Error subclass in every realm, so go by name.
  if (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError') {
    return { code: status.CANCELLED, details: 'call cancelled', metadata: new Metadata() };
  }
  logger.error({ err: error }, 'unexpected error in a handler');
  return { code: status.UNKNOWN, details: 'internal error', metadata: new Metadata() };
}

/**
 * Renders a value for an error message: strings quoted with control characters escaped, long
 * values cut, binary data as its length, so a hostile value cannot forge log lines or bloat a
 * status message.
 */
export function formatValue(value: unknown): string {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return String(value);
  }
  if (typeof value === 'function' || typeof value === 'symbol') return `<${typeof value}>`;
  if (typeof value === 'string') {
    // Cut before escaping: escaping a huge string only to throw most of it away is a cheap DoS.
    const cut = value.length > MAX_VALUE_CHARS;
    const quoted = JSON.stringify(cut ? value.slice(0, MAX_VALUE_CHARS) : value);
    return cut ? `${quoted}…(${value.length} chars)` : quoted;
  }
  if (Array.isArray(value) && value.length > MAX_ARRAY_ITEMS) {
    const head = value.slice(0, MAX_ARRAY_ITEMS).map((item: unknown) => formatValue(item));
    return cutText(`[${head.join(',')},…(${value.length} items)]`);
  }
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return cutText(text);
}

function cutText(text: string): string {
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…(${text.length} chars)` : text;
}

/**
 * A library's validation error, structured (SearchConfigError, the recipe's RecipeFieldError,
 * DatasetUriError): the field's path in the library's own names, what the field must be, and the
 * value it got. A service turns it into INVALID_ARGUMENT naming the protobuf field, without
 * reading the library's message.
 */
export interface FieldIssue {
  /** `['recipe', 'learningRateMin']`, `['primitives', 2]`. */
  readonly path: readonly (string | number)[];
  /** What the field must be: `an integer in [1, 100000]`. */
  readonly expected: string;
  readonly got: unknown;
}

export function isFieldIssue(error: unknown): error is Error & FieldIssue {
  const e = error as Partial<FieldIssue> | null;
  return (
    error instanceof Error &&
    Array.isArray(e?.path) &&
    typeof e?.expected === 'string' &&
    Object.hasOwn(error, 'got')
  );
}

/**
 * The protobuf spelling of a library path: camelCase names in snake_case, indices as `[i]`, the
 * first name through `rename` when the message names it differently:
 * `['recipe', 'learningRateMin']` -> `recipe.learning_rate_min`, `['primitives', 2]` -> `primitives[2]`.
 */
export function protoFieldPath(
  path: readonly (string | number)[],
  rename: Readonly<Record<string, string>> = {},
): string {
  let out = '';
  path.forEach((part, i) => {
    if (typeof part === 'number') {
      out += `[${part}]`;
      return;
    }
    const name =
      i === 0 && Object.hasOwn(rename, part)
        ? rename[part]
        : part.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    out += out === '' ? name : `.${name}`;
  });
  return out;
}

/** INVALID_ARGUMENT for a library's field issue, named as in the protobuf message. */
export function invalidField(
  issue: FieldIssue,
  rename: Readonly<Record<string, string>> = {},
): InvalidArgumentError {
  return new InvalidArgumentError(
    protoFieldPath(issue.path, rename),
    issue.got,
    `expected ${issue.expected}`,
  );
}
