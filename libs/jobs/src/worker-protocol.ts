/** Messages between a job's worker thread and the service thread that started it. */
import type { SerializedError } from '@rnas/workers';

/** Service -> worker: stop at the next safe point (between two pairs, two batches). */
export interface CancelMessage {
  type: 'cancel';
}

/** What a worker reports about an error, so the service can classify it without the object. */
export interface WorkerErrorInfo extends SerializedError {
  /** Whether the job stopped because it was cancelled. */
  cancelled: boolean;
}

/** Worker -> service. */
export type FromJobWorker<Event, Result> =
  | { type: 'event'; event: Event }
  | { type: 'done'; result: Result }
  | { type: 'failed'; error: WorkerErrorInfo };
