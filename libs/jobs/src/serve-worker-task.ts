// The worker-thread side of runWorkerTask: what a job's worker script calls once, with the
// function that does the job.
import { parentThread, serializeError } from '@rnas/workers';
import type { CancelMessage, FromJobWorker, WorkerErrorInfo } from './worker-protocol';

export interface JobContext<Event> {
  /** Aborts when the service cancels the job; check it (or pass it on) between steps. */
  readonly signal: AbortSignal;
  /** Sends an event to the service, which stores it before handling the next one. */
  emit(event: Event): void;
}

/** A job error as the service sees it: name, message, and the gRPC code name it carried. */
export function describeWorkerError(err: unknown, cancelled: boolean): WorkerErrorInfo {
  return { ...serializeError(err), cancelled };
}

/**
 * Runs `job` with the input the service passed and reports its events and outcome. A cancel
 * message aborts the signal; if the job then fails, the failure counts as a cancellation.
 */
export function serveWorkerTask<Input, Event, Result>(
  job: (input: Input, context: JobContext<Event>) => Promise<Result>,
): void {
  const parent = parentThread<CancelMessage, FromJobWorker<Event, Result>>('serveWorkerTask');
  const controller = new AbortController();
  parent.onMessage((message) => {
    if (message.type === 'cancel') controller.abort(new Error('cancelled'));
  });
  const post = (message: FromJobWorker<Event, Result>): void => parent.post(message);
  const context: JobContext<Event> = {
    signal: controller.signal,
    emit: (event) => post({ type: 'event', event }),
  };
  job(parent.data as Input, context).then(
    (result) => post({ type: 'done', result }),
    (err: unknown) => post({ type: 'failed', error: describeWorkerError(err, controller.signal.aborted) }),
  );
}
