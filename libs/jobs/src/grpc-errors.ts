import { status } from '@grpc/grpc-js';
import {
  DomainError,
  FailedPreconditionError,
  InvalidArgumentError,
  invalidField,
  isFieldIssue,
  NotFoundError,
  ResourceExhaustedError,
} from '@rnas/grpc';
import { JobNotFoundError, JobStateError, PageTokenError } from './errors';

/** INVALID_ARGUMENT with a message that already names the field and the value (from a library). */
export class InvalidRequestError extends DomainError {
  readonly code = status.INVALID_ARGUMENT;
}

/**
 * What a job service's handlers throw for an error: the job library's errors, the libraries'
 * structured field errors (FieldIssue: INVALID_ARGUMENT naming the protobuf field) and their
 * coded errors (DataError, TrainError carry a status name in `code`) become domain errors;
 * anything else is returned unchanged (and becomes UNKNOWN with its stack logged).
 */
export function toDomainError(error: unknown, kind: string): unknown {
  if (error instanceof DomainError) return error;
  if (error instanceof JobNotFoundError) return new NotFoundError(kind, error.id);
  if (error instanceof JobStateError) return new FailedPreconditionError(error.message);
  if (error instanceof PageTokenError)
    return new InvalidArgumentError('page_token', error.token, error.message);
  // A library's validation error names its field in the library's own (camelCase) names.
  if (isFieldIssue(error)) return invalidField(error);
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    // A library's NOT_FOUND during a request is a thing the request names (a dataset) that does
    // not exist: the request is wrong, the RPC's own resource was found.
    case 'INVALID_ARGUMENT':
    case 'NOT_FOUND':
      return new InvalidRequestError(message);
    case 'FAILED_PRECONDITION':
      return new FailedPreconditionError(message);
    case 'RESOURCE_EXHAUSTED':
      return new ResourceExhaustedError(message);
    default:
      return error;
  }
}
