import { status } from '@grpc/grpc-js';
import {
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  formatValue,
  invalidField,
  isFieldIssue,
  protoFieldPath,
  toGrpcStatus,
} from './errors';

function recordingLogger(): { error: jest.Mock } {
  return { error: jest.fn() };
}

describe('toGrpcStatus', () => {
  it.each([
    [
      new InvalidArgumentError('config.population', 7, 'must be even'),
      status.INVALID_ARGUMENT,
      'invalid config.population=7: must be even',
    ],
    [new NotFoundError('search', 'abc'), status.NOT_FOUND, 'search "abc" not found'],
    [new FailedPreconditionError('search is finished'), status.FAILED_PRECONDITION, 'search is finished'],
    [new ResourceExhaustedError('queue full (64)'), status.RESOURCE_EXHAUSTED, 'queue full (64)'],
    [new CancelledError(), status.CANCELLED, 'call cancelled'],
    [new DeadlineExceededError(), status.DEADLINE_EXCEEDED, 'deadline exceeded'],
    [new UnavailableError('model loading'), status.UNAVAILABLE, 'model loading'],
  ])('maps %p to its code and keeps its message', (error, code, details) => {
    const logger = recordingLogger();
    const result = toGrpcStatus(error, logger);
    expect(result.code).toBe(code);
    expect(result.details).toBe(details);
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('turns an unexpected error into UNKNOWN with a generic message and logs its stack', () => {
    const logger = recordingLogger();
    const bug = new TypeError('cannot read secret of undefined');
    const result = toGrpcStatus(bug, logger);
    expect(result).toMatchObject({ code: status.UNKNOWN, details: 'internal error' });
    expect(logger.error).toHaveBeenCalledWith({ err: bug }, expect.any(String));
  });

  it.each([['a string'], [null], [undefined], [42], [{ code: status.NOT_FOUND }]])(
    'treats the non-Error %p as unexpected (a code-shaped object does not pick its own code)',
    (thrown) => {
      const logger = recordingLogger();
      expect(toGrpcStatus(thrown, logger)).toMatchObject({ code: status.UNKNOWN, details: 'internal error' });
      expect(logger.error).toHaveBeenCalledTimes(1);
    },
  );

  it('maps an AbortError (an API that observed the call signal) to CANCELLED', () => {
    const abort = new DOMException('This operation was aborted', 'AbortError');
    expect(toGrpcStatus(abort, recordingLogger()).code).toBe(status.CANCELLED);
  });

  it('keeps field and value on InvalidArgumentError for logs', () => {
    const error = new InvalidArgumentError('top_k', -1, 'must be >= 0');
    expect(error).toMatchObject({ field: 'top_k', value: -1, name: 'InvalidArgumentError' });
    expect(error).toBeInstanceOf(Error);
  });
});

describe('formatValue', () => {
  it('quotes strings and escapes control characters so a value cannot forge log lines', () => {
    expect(formatValue('a\nb\u0000c"')).toBe('"a\\nb\\u0000c\\""');
  });

  it('cuts long strings and says how long they were', () => {
    const text = formatValue('x'.repeat(10_000));
    expect(text.length).toBeLessThan(200);
    expect(text).toContain('(10000 chars)');
  });

  it('renders binary data as its length', () => {
    expect(formatValue(Buffer.alloc(12))).toBe('<12 bytes>');
  });

  it('renders numbers, NaN, bigint and absent values', () => {
    expect([formatValue(1.5), formatValue(NaN), formatValue(-Infinity), formatValue(3n)]).toEqual([
      '1.5',
      'NaN',
      '-Infinity',
      '3n',
    ]);
    expect([formatValue(undefined), formatValue(null)]).toEqual(['undefined', 'null']);
  });

  it('renders a huge array from its first items only', () => {
    const text = formatValue(Array.from({ length: 1_000_000 }, (_, i) => i));
    expect(text.startsWith('[0,1,2,')).toBe(true);
    expect(text).toContain('1000000 items');
    expect(text.length).toBeLessThan(200);
  });

  it('survives objects JSON cannot render', () => {
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expect(formatValue(cyclic)).toBe('[object Object]');
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
  });
});

describe('field issues', () => {
  class LibraryError extends Error {
    constructor(
      readonly path: readonly (string | number)[],
      readonly expected: string,
      readonly got: unknown,
    ) {
      super('library message, never parsed');
    }
  }

  it('names the protobuf field: snake_case names, indices in brackets, renamed heads', () => {
    expect(protoFieldPath(['recipe', 'learningRateMin'])).toBe('recipe.learning_rate_min');
    expect(protoFieldPath(['config', 'primitives', 2])).toBe('config.primitives[2]');
    expect(protoFieldPath(['datasetUri'])).toBe('dataset_uri');
    expect(protoFieldPath(['lrMax'], { lrMax: 'config.lr_max' })).toBe('config.lr_max');
    expect(protoFieldPath([])).toBe('');
  });

  it('turns an issue into INVALID_ARGUMENT from its fields, not its message', () => {
    const error = invalidField(new LibraryError(['recipe', 'batchSize'], 'an integer in [2, 4096]', 1));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.field).toBe('recipe.batch_size');
    expect(error.message).toBe('invalid recipe.batch_size=1: expected an integer in [2, 4096]');
  });

  it('renders a hostile or huge value safely', () => {
    const error = invalidField(new LibraryError(['datasetUri'], 'a dataset URI', `x\n${'y'.repeat(10_000)}`));
    expect(error.message).not.toContain('\n');
    expect(error.message.length).toBeLessThan(300);
  });

  it('recognises only errors that carry a path, an expectation and a value', () => {
    expect(isFieldIssue(new LibraryError(['a'], 'b', undefined))).toBe(true);
    expect(isFieldIssue(new Error('plain'))).toBe(false);
    expect(isFieldIssue({ path: ['a'], expected: 'b', got: 1 })).toBe(false);
    expect(isFieldIssue(Object.assign(new Error('x'), { path: 'a', expected: 'b', got: 1 }))).toBe(false);
    expect(isFieldIssue(null)).toBe(false);
  });
});
