// The worker-thread side of runWorkerTask: what a job's worker script calls once, with the
// function that does the job.
import { parentPort, workerData } from 'node:worker_threads';
import type { CancelMessage, FromJobWorker, WorkerErrorInfo } from './worker-protocol';

export interface JobContext<Event> {
  /** Aborts when the service cancels the job; check it (or pass it on) between steps. */
  readonly signal: AbortSignal;
  /** Sends an event to the service, which stores it before handling the next one. */
  emit(event: Event): void;
}

/** A job error as the service sees it: name, message, and the gRPC code name it carried. */
export function describeWorkerError(err: unknown, cancelled: boolean): WorkerErrorInfo {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return {
    name: e.name,
    message: e.message,
    ...(typeof code === 'string' ? { code } : {}),
    cancelled,
  };
}

/**
 * Runs `job` with the input the service passed and reports its events and outcome. A cancel
 * message aborts the signal; if the job then fails, the failure counts as a cancellation.
 */
export function serveWorkerTask<Input, Event, Result>(
  job: (input: Input, context: JobContext<Event>) => Promise<Result>,
): void {
  const port = parentPort;
  if (port === null) throw new Error('serveWorkerTask: must run in a worker thread');
  const controller = new AbortController();
  port.on('message', (message: CancelMessage) => {
    if (message.type === 'cancel') controller.abort(new Error('cancelled'));
  });
  const post = (message: FromJobWorker<Event, Result>): void => port.postMessage(message);
  const context: JobContext<Event> = {
    signal: controller.signal,
    emit: (event) => post({ type: 'event', event }),
  };
  job(workerData as Input, context).then(
    (result) => post({ type: 'done', result }),
    (err: unknown) => post({ type: 'failed', error: describeWorkerError(err, controller.signal.aborted) }),
  );
}
