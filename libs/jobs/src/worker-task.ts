// Running one job on a worker thread, off the service's event loop: the worker runs compiled
// JavaScript (a `dist/` file made by `npx tsc -b`), reports events that the service stores as they
// come, and ends with a result or an error. Cancellation is a message the worker acts on at its
// next safe point; a shutdown terminates the worker at once (its job stays RUNNING in the
// database and resumes from its last checkpoint when the service starts again).
import { existsSync } from 'node:fs';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { CancelMessage, FromJobWorker, WorkerErrorInfo } from './worker-protocol';

/** The job ended with an error in its worker (or the worker died). */
export class WorkerTaskError extends Error {
  /** A gRPC status name the worker's error carried, if any. */
  readonly code: string | undefined;
  /** Whether the job stopped because it was cancelled. */
  readonly cancelled: boolean;

  constructor(info: WorkerErrorInfo) {
    super(info.message);
    this.name = 'WorkerTaskError';
    this.code = info.code;
    this.cancelled = info.cancelled;
  }
}

/** The reason a shutdown aborts running jobs with: the job is not cancelled, only interrupted. */
export class JobInterruptedError extends Error {
  constructor(message = 'the service is shutting down; the job resumes when it starts again') {
    super(message);
    this.name = 'JobInterruptedError';
  }
}

export interface WorkerTaskOptions<Event> {
  /** The compiled worker script (serveWorkerTask runs in it). */
  script: string;
  /** The job's input, structured-cloned to the worker. */
  input: unknown;
  /**
   * Aborting with a JobInterruptedError terminates the worker at once; any other reason asks it to
   * cancel and waits for it to stop at its next safe point.
   */
  signal: AbortSignal;
  /** Called for each event, in order; a throw fails the task (and terminates the worker). */
  onEvent: (event: Event) => void;
  /** Name of the thread in diagnostics. */
  name?: string;
  resourceLimits?: ResourceLimits;
}

/** Runs the job in a new worker thread; resolves with its result. */
export function runWorkerTask<Event, Result>(options: WorkerTaskOptions<Event>): Promise<Result> {
  const { script, signal, onEvent } = options;
  if (!existsSync(script)) {
    return Promise.reject(
      new Error(`job worker script ${script} does not exist; build the workspace first (npx tsc -b)`),
    );
  }
  if (signal.aborted && signal.reason instanceof JobInterruptedError) return Promise.reject(signal.reason);
  return new Promise<Result>((resolve, reject) => {
    const worker = new Worker(script, {
      workerData: options.input,
      name: options.name,
      resourceLimits: options.resourceLimits,
    });
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      // The worker has said all it will say; terminating spares waiting for its handles to close.
      void worker.terminate();
      outcome();
    };
    const onAbort = (): void => {
      if (signal.reason instanceof JobInterruptedError) {
        const reason = signal.reason;
        finish(() => reject(reason));
        return;
      }
      worker.postMessage({ type: 'cancel' } satisfies CancelMessage);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    worker.on('message', (message: FromJobWorker<Event, Result>) => {
      if (settled) return;
      switch (message.type) {
        case 'event':
          try {
            onEvent(message.event);
          } catch (err) {
            finish(() => reject(err));
          }
          return;
        case 'done':
          finish(() => resolve(message.result));
          return;
        case 'failed':
          finish(() => reject(new WorkerTaskError(message.error)));
          return;
      }
    });
    worker.on('error', (err) => {
      finish(() =>
        reject(
          new WorkerTaskError({
            name: err.name,
            message: `job worker crashed: ${err.message}`,
            cancelled: false,
          }),
        ),
      );
    });
    worker.on('exit', (code) => {
      finish(() =>
        reject(
          new WorkerTaskError({
            name: 'WorkerExit',
            message: `job worker exited with code ${code} before reporting a result`,
            cancelled: false,
          }),
        ),
      );
    });
  });
}
