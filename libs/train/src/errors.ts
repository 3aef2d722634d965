import { describe } from '@rnas/model';

/**
 * Domain errors of training (the model format has its own, `ModelError`, coded the same way). `code` names the gRPC status a service
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

export { describe };
