// The protobuf face of a service's jobs, the same for every job service: the job state <-> the
// service's State enum, the List filter, the Watch event log (each stored event is the service's
// Watch response as protobuf JSON, its envelope filled in when it is read back), and handlers
// that turn every library error into a status.
import { InvalidArgumentError } from '@rnas/grpc';
import type { JobState } from './job-state';
import type { WatchedEvent } from './watch';
import { toDomainError } from './grpc-errors';

/** A job state <-> a service's protobuf State enum (SearchState, TrainingState). */
export class ProtoStates<P extends number> {
  private readonly filters = new Map<number, JobState>();

  /**
   * @param table the enum value of each job state
   * @param unspecified the enum's 0 (a List request without a filter)
   * @param enumName the enum's name, for the error of an unknown value
   */
  constructor(
    private readonly table: Readonly<Record<JobState, P>>,
    private readonly unspecified: P,
    private readonly enumName: string,
  ) {
    for (const [state, value] of Object.entries(table)) this.filters.set(value, state as JobState);
  }

  of(state: JobState): P {
    return this.table[state];
  }

  /** The job state a List request's `state` selects: undefined for all; INVALID_ARGUMENT for an unknown value. */
  filter(requested: P): JobState | undefined {
    if (requested === this.unspecified) return undefined;
    const state = this.filters.get(requested);
    if (state === undefined)
      throw new InvalidArgumentError('state', requested, `expected a ${this.enumName}`);
    return state;
  }
}

/** A service's Watch response: the envelope and one event of the service's oneof. */
export interface WatchMessage<Event> {
  sequence: number;
  timeUnixMs: number;
  replayed: boolean;
  event?: Event | undefined;
}

/** The ts-proto codec of a message (its toJSON/fromJSON). */
export interface MessageJson<M> {
  toJSON(message: M): unknown;
  fromJSON(object: unknown): M;
}

/** The stored form of one event: the Watch response as protobuf JSON, its envelope left empty. */
export function eventPayload<M extends WatchMessage<unknown>>(
  codec: MessageJson<M>,
  event: M['event'],
): { payload: unknown } {
  return { payload: codec.toJSON({ sequence: 0, timeUnixMs: 0, replayed: false, event } as M) };
}

/** The largest uint64: what a Watch request's `after_sequence` can carry. */
export const UINT64_MAX = 2n ** 64n - 1n;

/**
 * A Watch request's `after_sequence` as a sequence of the job's event log. The field is a uint64
 * that reaches the handler in full, as the decimal string the generated code gives for it
 * (`jstype = JS_STRING`), and every uint64 is valid. A job's sequences count its events from 1 and
 * stay far below Number.MAX_SAFE_INTEGER (the store reads them as numbers), so a larger value
 * means what Number.MAX_SAFE_INTEGER means: nothing after it. Only a string that is no uint64,
 * which no decoded request carries, is INVALID_ARGUMENT.
 */
export function afterSequence(value: string | number): number {
  const text = String(value);
  if (!/^\d{1,20}$/.test(text) || BigInt(text) > UINT64_MAX) {
    throw new InvalidArgumentError('after_sequence', value, `expected a uint64, 0 to ${UINT64_MAX}`);
  }
  const sequence = BigInt(text);
  return sequence > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(sequence);
}

/** The stored events as Watch responses, the envelope from the log (sequence, time, replayed). */
export async function* watchMessages<M extends WatchMessage<unknown>>(
  events: AsyncIterable<WatchedEvent<unknown>>,
  codec: MessageJson<M>,
): AsyncGenerator<M> {
  for await (const { event, replayed } of events) {
    const message = codec.fromJSON(event.payload);
    yield { ...message, sequence: event.sequence, timeUnixMs: event.timeMs, replayed };
  }
}

/**
 * Wraps a job service's handler bodies so that whatever they throw reaches the client as a status:
 * the job library's and the libraries' errors become domain errors naming `noun`.
 */
export function jobCalls(noun: string): {
  unary<T>(work: () => T | Promise<T>): Promise<T>;
  stream<T>(work: () => AsyncIterable<T>): AsyncGenerator<T>;
} {
  return {
    async unary(work) {
      try {
        return await work();
      } catch (err) {
        throw toDomainError(err, noun);
      }
    },
    async *stream(work) {
      try {
        yield* work();
      } catch (err) {
        throw toDomainError(err, noun);
      }
    },
  };
}
