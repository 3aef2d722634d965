// Running one job on a worker thread, off the service's event loop: the worker runs compiled
// JavaScript (a `dist/` file made by `npx tsc -b`), reports events that the service stores as they
// come, and ends with a result or an error. Cancellation is a message the worker acts on at its
// next safe point; a shutdown terminates the worker at once, also while a cancellation is under
// way (its job stays RUNNING in the database and resumes from its last checkpoint when the
// service starts again).
import type { ResourceLimits } from 'node:worker_threads';
import { WorkerThread } from '@rnas/workers';
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
  /** Aborting asks the worker to cancel, and waits for it to stop at its next safe point. */
  cancel: AbortSignal;
  /**
   * Aborting (with a JobInterruptedError) terminates the worker at once, whatever it is doing and
   * whether or not it was asked to cancel; the task rejects with that error once the thread is gone.
   */
  interrupt: AbortSignal;
  /** Called for each event, in order; a throw fails the task (and terminates the worker). */
  onEvent: (event: Event) => void;
  /** Name of the thread in diagnostics. */
  name?: string;
  resourceLimits?: ResourceLimits;
}

/** Runs the job in a new worker thread; resolves with its result. */
export function runWorkerTask<Event, Result>(options: WorkerTaskOptions<Event>): Promise<Result> {
  const { cancel, interrupt, onEvent } = options;
  return new Promise<Result>((resolve, reject) => {
    if (interrupt.aborted) {
      reject(interruption(interrupt));
      return;
    }
    let settled = false;
    /**
     * The one way the task settles: terminates the worker (when it has said all it will say, that
     * spares waiting for its handles to close) and reports `outcome`, after the thread is gone when
     * `afterExit` (a shutdown: whoever waits for it knows that nothing of the job runs any more).
     */
    const finish = (outcome: () => void, afterExit = false): void => {
      if (settled) return;
      settled = true;
      cancel.removeEventListener('abort', onCancel);
      interrupt.removeEventListener('abort', onInterrupt);
      const terminated = thread.terminate();
      if (afterExit) void terminated.then(outcome);
      else outcome();
    };
    // Throws (and so rejects) when the script is missing, before any listener is added.
    const thread = WorkerThread.start<CancelMessage, FromJobWorker<Event, Result>>(
      {
        script: options.script,
        label: 'job worker',
        data: options.input,
        name: options.name,
        resourceLimits: options.resourceLimits,
      },
      {
        message: (message) => {
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
        },
        died: (death) => {
          const crash = death.exitCode === undefined;
          const info: WorkerErrorInfo = {
            name: crash && death.cause instanceof Error ? death.cause.name : 'WorkerExit',
            message: crash ? death.message : `${death.message} before reporting a result`,
            cancelled: false,
          };
          finish(() => reject(new WorkerTaskError(info)));
        },
      },
    );
    const onCancel = (): void => {
      thread.post({ type: 'cancel' });
    };
    const onInterrupt = (): void => {
      const reason = interruption(interrupt);
      finish(() => reject(reason), true);
    };
    cancel.addEventListener('abort', onCancel, { once: true });
    interrupt.addEventListener('abort', onInterrupt, { once: true });
    if (cancel.aborted) onCancel();
  });
}

function interruption(signal: AbortSignal): JobInterruptedError {
  return signal.reason instanceof JobInterruptedError ? signal.reason : new JobInterruptedError();
}
