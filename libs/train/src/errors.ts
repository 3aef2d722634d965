/**
 * Domain errors of training and of the model repository. `code` names the gRPC status a service
 * answers with, so the services' one error-to-status mapping needs no message parsing.
 */
export type TrainErrorCode =
  'INVALID_ARGUMENT' | 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'RESOURCE_EXHAUSTED' | 'CANCELLED';

export class TrainError extends Error {
  constructor(
    readonly code: TrainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TrainError';
  }
}

/** A recipe field (or another request field) that is missing, of the wrong kind or out of range. */
export class FieldError extends TrainError {
  constructor(
    /** The field's path: `['recipe', 'learningRateMin']`. */
    readonly path: readonly (string | number)[],
    /** What the field must be: `a number in [0, 10]`. */
    readonly expected: string,
    readonly got: unknown,
    message: string,
  ) {
    super('INVALID_ARGUMENT', message);
    this.name = 'FieldError';
  }
}

/** The AbortSignal fired: the training stopped between two batches, nothing was half-written. */
export class TrainingCancelledError extends TrainError {
  constructor(readonly epoch: number) {
    super('CANCELLED', `training cancelled during epoch ${epoch}`);
    this.name = 'AbortError';
  }
}

/** A value that breaks a rule: the message names the field, the expectation and the value. */
export function invalidArgument(field: string, value: unknown, expectation: string): TrainError {
  return new TrainError('INVALID_ARGUMENT', `${field}: expected ${expectation}, got ${describe(value)}`);
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
