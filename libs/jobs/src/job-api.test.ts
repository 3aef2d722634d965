import { status } from '@grpc/grpc-js';
import { InvalidArgumentError, NotFoundError } from '@rnas/grpc';
import { JobNotFoundError } from './errors';
import {
  afterSequence,
  eventPayload,
  jobCalls,
  ProtoStates,
  UINT64_MAX,
  watchMessages,
  type WatchMessage,
} from './job-api';
import { WorkerMemoryByJob } from './job-service';
import type { WatchedEvent } from './watch';

enum State {
  UNSPECIFIED = 0,
  QUEUED = 1,
  RUNNING = 2,
  CANCELLING = 3,
  SUCCEEDED = 4,
  FAILED = 5,
  CANCELLED = 6,
}

const STATES = new ProtoStates<State>(
  {
    queued: State.QUEUED,
    running: State.RUNNING,
    cancelling: State.CANCELLING,
    succeeded: State.SUCCEEDED,
    failed: State.FAILED,
    cancelled: State.CANCELLED,
  },
  State.UNSPECIFIED,
  'State',
);

describe('ProtoStates', () => {
  it('maps job states to the enum and a List filter back', () => {
    expect(STATES.of('running')).toBe(State.RUNNING);
    expect(STATES.filter(State.UNSPECIFIED)).toBeUndefined();
    expect(STATES.filter(State.CANCELLED)).toBe('cancelled');
  });

  it.each([99, -1, 1.5, Number.NaN])('refuses the unknown enum value %p naming the field', (value) => {
    expect(() => STATES.filter(value as State)).toThrow(InvalidArgumentError);
    expect(() => STATES.filter(value as State)).toThrow(`invalid state=${value}: expected a State`);
  });
});

type Message = WatchMessage<{ $case: 'note'; value: string }>;

const codec = {
  toJSON: (m: Message): unknown => ({ sequence: m.sequence, note: m.event?.value }),
  fromJSON: (o: unknown): Message => {
    const j = o as { note?: string };
    return {
      sequence: 0,
      timeUnixMs: 0,
      replayed: false,
      event: j.note === undefined ? undefined : { $case: 'note', value: j.note },
    };
  },
};

describe('the event log as Watch responses', () => {
  it('stores the event with an empty envelope and fills the envelope from the log', async () => {
    const stored = eventPayload(codec, { $case: 'note', value: 'hello' });
    expect(stored).toEqual({ payload: { sequence: 0, note: 'hello' } });
    async function* log(): AsyncGenerator<WatchedEvent<unknown>> {
      yield { event: { sequence: 7, timeMs: 1234, payload: stored.payload }, replayed: true };
      yield { event: { sequence: 8, timeMs: 1240, payload: { note: 'live' } }, replayed: false };
    }
    const messages: Message[] = [];
    for await (const m of watchMessages(log(), codec)) messages.push(m);
    expect(messages).toEqual([
      { sequence: 7, timeUnixMs: 1234, replayed: true, event: { $case: 'note', value: 'hello' } },
      { sequence: 8, timeUnixMs: 1240, replayed: false, event: { $case: 'note', value: 'live' } },
    ]);
  });
});

describe('afterSequence', () => {
  it('reads 0 and ordinary sequences as they are', () => {
    expect(afterSequence('0')).toBe(0);
    expect(afterSequence('42')).toBe(42);
    expect(afterSequence(7)).toBe(7);
    expect(afterSequence(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('accepts every uint64 above 2^53: nothing comes after it', () => {
    expect(afterSequence(String(2n ** 53n + 1n))).toBe(Number.MAX_SAFE_INTEGER);
    expect(afterSequence('18446744073709551615')).toBe(Number.MAX_SAFE_INTEGER);
    expect(String(UINT64_MAX)).toBe('18446744073709551615');
  });

  it.each(['18446744073709551616', '-1', '', '1.5', 'abc', '1e3'])(
    'refuses %p, which is no uint64, naming the field',
    (value) => {
      expect(() => afterSequence(value)).toThrow(InvalidArgumentError);
      expect(() => afterSequence(value)).toThrow(
        `invalid after_sequence=${JSON.stringify(value)}: expected a uint64, 0 to 18446744073709551615`,
      );
    },
  );
});

describe('jobCalls', () => {
  const call = jobCalls('search');

  it('passes results through', async () => {
    await expect(call.unary(() => 3)).resolves.toBe(3);
    const items: number[] = [];
    for await (const item of call.stream(async function* () {
      yield 1;
      yield 2;
    }))
      items.push(item);
    expect(items).toEqual([1, 2]);
  });

  it('turns library errors into statuses, in unary calls and in streams', async () => {
    const unary = await call
      .unary(() => Promise.reject(new JobNotFoundError('search', 'abc')))
      .catch((e: unknown) => e);
    expect(unary).toBeInstanceOf(NotFoundError);
    expect((unary as NotFoundError).message).toBe('search "abc" not found');
    const field = Object.assign(new Error('x'), { path: ['datasetUri'], expected: 'a dataset URI', got: '' });
    const streamed = call.stream(async function* () {
      yield 1;
      throw field;
    });
    await expect(streamed.next()).resolves.toEqual({ done: false, value: 1 });
    const error = (await streamed.next().catch((e: unknown) => e)) as InvalidArgumentError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toBe('invalid dataset_uri="": expected a dataset URI');
  });

  it('leaves an unexpected error as it is (UNKNOWN, logged by the server)', async () => {
    const bug = new TypeError('a bug');
    await expect(call.unary(() => Promise.reject(bug))).rejects.toBe(bug);
  });
});

describe('WorkerMemoryByJob', () => {
  it('adds up what the running jobs reported last and forgets a stopped one', () => {
    const memory = new WorkerMemoryByJob();
    memory.report('a', { numTensors: 1, numBytes: 10, numDataBuffers: 1 });
    memory.report('a', { numTensors: 2, numBytes: 20, numDataBuffers: 2 });
    memory.report('b', { numTensors: 3, numBytes: 30, numDataBuffers: 3 });
    expect(memory.total()).toEqual({ numTensors: 5, numBytes: 50, numDataBuffers: 5 });
    memory.forget('a');
    memory.forget('never-ran');
    expect(memory.total()).toEqual({ numTensors: 3, numBytes: 30, numDataBuffers: 3 });
  });
});
