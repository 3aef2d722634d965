// One worker thread running a compiled script, with typed messages both ways. The starting side
// hears of the thread's end once, as a WorkerDiedError, unless it terminated the thread itself;
// terminate() settles only once the thread has exited, so whoever awaits it knows that nothing of
// the thread runs any more.
import { parentPort, Worker, workerData, type ResourceLimits, type Transferable } from 'node:worker_threads';
import { requireBuiltScript } from './script';

export interface WorkerThreadOptions {
  /** The compiled worker script (see workerScript). */
  script: string;
  /** What the thread is, in error messages: 'job worker', 'compute worker'. */
  label: string;
  /** The thread's start data (its `workerData`), structured-cloned. */
  data?: unknown;
  /** Name of the thread in diagnostics. */
  name?: string;
  resourceLimits?: ResourceLimits;
}

export interface WorkerThreadHandlers<Out> {
  /** Each message of the thread, in order, until it died or was terminated. */
  message(message: Out): void;
  /** The thread ended without being terminated (or broke the protocol); called once at most. */
  died(error: WorkerDiedError): void;
}

/** A worker thread ended without being asked to: an uncaught error, an exit, a broken protocol. */
export class WorkerDiedError extends Error {
  /** The thread's exit code when it exited by itself. */
  readonly exitCode: number | undefined;

  /** `reason`: what ended it, in a few words (the uncaught error's message, `exit code 3`). */
  constructor(
    label: string,
    readonly reason: string,
    ended: { exitCode?: number; cause?: Error } = {},
  ) {
    super(
      ended.exitCode !== undefined
        ? `${label} exited with code ${ended.exitCode}`
        : ended.cause !== undefined
          ? `${label} crashed: ${reason}`
          : `${label} ${reason}`,
      ended.cause === undefined ? undefined : { cause: ended.cause },
    );
    this.name = 'WorkerDiedError';
    this.exitCode = ended.exitCode;
  }
}

export class WorkerThread<In, Out> {
  private ended = false;
  private terminated: Promise<void> | undefined;

  private constructor(
    /** The thread itself, for diagnostics (its threadId). */
    readonly worker: Worker,
    readonly label: string,
    private readonly handlers: WorkerThreadHandlers<Out>,
  ) {
    worker.on('message', (message: Out) => {
      if (!this.ended) handlers.message(message);
    });
    worker.on('error', (err) => this.die(new WorkerDiedError(label, err.message, { cause: err })));
    worker.on('exit', (code) =>
      this.die(new WorkerDiedError(label, `exit code ${code}`, { exitCode: code })),
    );
  }

  /** Starts the thread; throws, saying how to build it, when the script is missing. */
  static start<In, Out>(
    options: WorkerThreadOptions,
    handlers: WorkerThreadHandlers<Out>,
  ): WorkerThread<In, Out> {
    requireBuiltScript(options.script, options.label);
    const worker = new Worker(options.script, {
      workerData: options.data,
      name: options.name,
      resourceLimits: options.resourceLimits,
    });
    return new WorkerThread<In, Out>(worker, options.label, handlers);
  }

  /** Whether the thread is up: not dead, not terminated. */
  get running(): boolean {
    return !this.ended;
  }

  /** Sends a message; the buffers in `transfer` move to the thread (unusable here afterwards). */
  post(message: In, transfer: readonly Transferable[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  /**
   * Stops the thread at once, whatever it is doing; no message nor death is reported afterwards.
   * Settles once the thread has exited.
   */
  terminate(): Promise<void> {
    this.ended = true;
    this.terminated ??= this.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
    return this.terminated;
  }

  /** Reports the thread dead for `reason` (it broke the protocol, say) and terminates it. */
  fail(reason: string): Promise<void> {
    this.die(new WorkerDiedError(this.label, reason));
    return this.terminate();
  }

  private die(error: WorkerDiedError): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.died(error);
  }
}

/** The worker thread's side: its start data and typed messages with the thread that started it. */
export interface ParentThread<In, Out> {
  /** The start data (WorkerThreadOptions.data). */
  readonly data: unknown;
  post(message: Out, transfer?: readonly Transferable[]): void;
  /** Handles each message from the starting thread; while one is set, the thread stays alive. */
  onMessage(handler: (message: In) => void): void;
}

/** The link to the starting thread; `who` names the script in the error outside a worker thread. */
export function parentThread<In, Out>(who: string): ParentThread<In, Out> {
  const port = parentPort;
  if (port === null) throw new Error(`${who}: must run in a worker thread`);
  return {
    data: workerData,
    post: (message, transfer = []) => port.postMessage(message, transfer),
    onMessage: (handler) => port.on('message', handler),
  };
}
