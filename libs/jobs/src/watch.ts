// Following a job: its stored events first (the history so far), then the live ones as they are
// committed, ending after the event that moved the job into a terminal state. Every event comes
// from the database, so a watcher that joins late, or reconnects with the last sequence it saw,
// gets exactly the events it has not seen, in order, without gaps or duplicates.
import { isTerminal } from './job-state';
import type { JobKind, StoredEvent } from './job-store';

/** Events read from the database per query while catching up. */
const REPLAY_BATCH = 256;

export interface WatchedEvent<Payload> {
  readonly event: StoredEvent<Payload>;
  /** True for events that were stored before the watch started. */
  readonly replayed: boolean;
}

/**
 * The job's events after `afterSequence`. Ends when the job is terminal and every event was
 * delivered; stops (returns) as soon as `signal` aborts. JobNotFoundError when there is no job.
 */
export async function* watchJob<Config, Progress, Result, Payload>(
  jobs: JobKind<Config, Progress, Result, Payload>,
  id: string,
  afterSequence: number,
  signal: AbortSignal,
): AsyncGenerator<WatchedEvent<Payload>, void, undefined> {
  const replayUntil = jobs.get(id).lastSequence;
  let last = afterSequence;
  for (;;) {
    if (signal.aborted) return;
    const batch = jobs.events(id, last, REPLAY_BATCH);
    for (const event of batch) {
      last = event.sequence;
      yield { event, replayed: event.sequence <= replayUntil };
      if (signal.aborted) return;
    }
    if (batch.length === REPLAY_BATCH) continue;
    const job = jobs.get(id);
    if (last < job.lastSequence) continue;
    if (isTerminal(job.state)) return;
    // Nothing new yet: wait for the next commit. The check above and the subscription happen in
    // the same turn of the event loop as every write, so no event can slip in between.
    await nextEvent(jobs, id, signal);
  }
}

function nextEvent<C, P, R, E>(jobs: JobKind<C, P, R, E>, id: string, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      unsubscribe();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const unsubscribe = jobs.onEvent(id, done);
    // Resolving (not rejecting) on abort lets the generator return and run its cleanup at once.
    signal.addEventListener('abort', done, { once: true });
  });
}
