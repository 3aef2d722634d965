/**
 * Errors of the model format and the model repository. `code` names the gRPC status a service
 * answers with, so the services' one error-to-status mapping needs no message parsing.
 */
export type ModelErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'FAILED_PRECONDITION';

export class ModelError extends Error {
  constructor(
    readonly code: ModelErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ModelError';
  }
}

/** A value that breaks a rule: the message names the field, the expectation and the value. */
export function invalidArgument(field: string, value: unknown, expectation: string): ModelError {
  return new ModelError('INVALID_ARGUMENT', `${field}: expected ${expectation}, got ${describe(value)}`);
}

/** A short, safe rendering of any value for an error message (hostile input may be huge). */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value;
}
