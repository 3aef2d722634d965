/**
 * Domain errors of the data path. `code` names the gRPC status a service should answer with, so
 * the one error-to-status mapping in the services can translate them without parsing messages.
 */
export type DataErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'RESOURCE_EXHAUSTED';

export class DataError extends Error {
  constructor(
    readonly code: DataErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DataError';
  }
}

/** A dataset file that is not what its format says it must be: names the file, offset and expectation. */
export class DataFormatError extends DataError {
  constructor(
    readonly file: string,
    readonly offset: number | undefined,
    readonly expected: string,
    readonly got: string,
  ) {
    super(
      'FAILED_PRECONDITION',
      `${file}${offset === undefined ? '' : ` at offset ${offset}`}: expected ${expected}, got ${got}`,
    );
    this.name = 'DataFormatError';
  }
}

/** A caller-supplied value out of range or of the wrong kind: names the field and the value received. */
export function invalidArgument(field: string, value: unknown, expectation: string): DataError {
  return new DataError('INVALID_ARGUMENT', `${field}: expected ${expectation}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value;
}

/** Checks an integer option and returns it; the error names the field and the value. */
export function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(field, value, `an integer in [${min}, ${max}]`);
  }
  return value;
}
