// A worker thread that serves requests: it sets itself up once (a tensor engine, say) and says
// it is ready, then answers one request at a time, in order, each with a reply or an error and,
// when it reads one, its memory report. Used for the search's evaluator threads and inference's
// compute thread; buffers can move both ways instead of being copied.
import type { Transferable } from 'node:worker_threads';
import { deserializeError, isSerializedError, serializeError, type SerializedError } from './errors';
import { isWorkerMemory, type WorkerMemory } from './memory';
import { parentThread, WorkerDiedError, WorkerThread, type WorkerThreadOptions } from './thread';

/** Starting side -> request thread. */
export type ToRequestThread<Request> = { kind: 'request'; id: number; request: Request };

/** Request thread -> starting side. */
export type FromRequestThread<Ready, Reply> =
  | { kind: 'ready'; ready: Ready }
  | { kind: 'init-error'; error: SerializedError }
  | { kind: 'reply'; id: number; reply: Reply; memory?: WorkerMemory }
  | { kind: 'failed'; id: number; error: SerializedError; memory?: WorkerMemory };

export interface RequestThreadOptions extends WorkerThreadOptions {
  /** What the requests in flight reject with when the thread dies [the WorkerDiedError]. */
  inFlightError?: (error: WorkerDiedError) => Error;
}

interface InFlight<Reply> {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

export class RequestThread<Ready, Request, Reply> {
  /** Each memory report, before the reply it came with settles. */
  onMemory: ((memory: WorkerMemory) => void) | undefined;
  /** The thread died once it was ready; called after the requests in flight were rejected. */
  onDeath: ((error: WorkerDiedError) => void) | undefined;
  private readonly thread: WorkerThread<ToRequestThread<Request>, FromRequestThread<Ready, Reply>>;
  private readonly inFlight = new Map<number, InFlight<Reply>>();
  private nextId = 1;
  private readyValue: { value: Ready } | undefined;
  private startup: InFlight<Ready> | undefined;
  /** Settles when the thread is ready, or failed to start. */
  private readonly started: Promise<Ready>;

  private constructor(private readonly options: RequestThreadOptions) {
    this.started = new Promise<Ready>((resolve, reject) => {
      this.startup = { resolve, reject };
    });
    // Whoever starts the thread awaits `started`; a terminate() before then is no unhandled error.
    this.started.catch(() => undefined);
    this.thread = WorkerThread.start(options, {
      message: (message) => this.receive(message),
      died: (error) => this.die(error),
    });
  }

  /** Starts the thread and waits until it is ready; a thread that failed to start is terminated. */
  static async start<Ready, Request, Reply>(
    options: RequestThreadOptions,
  ): Promise<RequestThread<Ready, Request, Reply>> {
    return (await RequestThread.startMany<Ready, Request, Reply>(1, options))[0];
  }

  /** Starts `count` threads alike, all or none: when one fails to start, every one is terminated. */
  static async startMany<Ready, Request, Reply>(
    count: number,
    options: RequestThreadOptions,
  ): Promise<RequestThread<Ready, Request, Reply>[]> {
    const threads: RequestThread<Ready, Request, Reply>[] = [];
    try {
      for (let i = 0; i < count; i++) threads.push(new RequestThread(options));
      await Promise.all(threads.map((t) => t.started));
      return threads;
    } catch (err) {
      await Promise.all(threads.map((t) => t.terminate()));
      throw err;
    }
  }

  /** What the thread said when it was ready. */
  get ready(): Ready {
    if (this.readyValue === undefined) throw new Error(`${this.options.label} is not ready`);
    return this.readyValue.value;
  }

  /** Whether the thread is up: not dead, not terminated. */
  get running(): boolean {
    return this.thread.running;
  }

  /** The thread itself, for diagnostics (its threadId). */
  get worker(): WorkerThread<unknown, unknown>['worker'] {
    return this.thread.worker;
  }

  /**
   * Sends `request`; resolves with the reply, rejects with the thread's error (same name, message
   * and code) or when the thread dies. `transfer`: buffers that move to the thread.
   */
  request(request: Request, transfer: readonly Transferable[] = []): Promise<Reply> {
    if (!this.thread.running) {
      return Promise.reject(new Error(`${this.options.label} is not running`));
    }
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      this.thread.post({ kind: 'request', id, request }, transfer);
    });
  }

  /**
   * Stops the thread at once; the requests in flight reject with `reason`. Settles once the thread
   * has exited.
   */
  terminate(reason: Error = new Error(`${this.options.label} was terminated`)): Promise<void> {
    this.startup?.reject(reason);
    this.startup = undefined;
    this.rejectInFlight(reason);
    return this.thread.terminate();
  }

  private receive(message: FromRequestThread<Ready, Reply>): void {
    const kind = describe(message);
    if (this.startup !== undefined) {
      if (kind === 'ready') {
        this.readyValue = { value: (message as { ready: Ready }).ready };
        this.startup.resolve(this.readyValue.value);
        this.startup = undefined;
      } else if (kind === 'init-error' && isSerializedError((message as { error: unknown }).error)) {
        const { error } = message as { error: SerializedError };
        this.startup.reject(new Error(`${this.options.label} failed to start: ${error.message}`));
        this.startup = undefined;
        void this.thread.terminate();
      } else {
        void this.thread.fail(`sent ${kind} before it was ready`);
      }
      return;
    }
    const reply = message as { id?: unknown; memory?: unknown; error?: unknown };
    const pending = typeof reply.id === 'number' ? this.inFlight.get(reply.id) : undefined;
    const wellFormed =
      (kind === 'reply' || (kind === 'failed' && isSerializedError(reply.error))) &&
      (reply.memory === undefined || isWorkerMemory(reply.memory));
    if (!wellFormed) {
      void this.thread.fail(`sent an unexpected message (${kind})`);
      return;
    }
    if (pending === undefined) {
      void this.thread.fail(`sent a ${kind} to request ${String(reply.id)}, which is not in flight`);
      return;
    }
    this.inFlight.delete(reply.id as number);
    if (reply.memory !== undefined) this.onMemory?.(reply.memory as WorkerMemory);
    if (message.kind === 'reply') pending.resolve(message.reply);
    else pending.reject(deserializeError(reply.error as SerializedError));
  }

  private die(error: WorkerDiedError): void {
    if (this.startup !== undefined) {
      const ended = error.exitCode !== undefined || error.cause !== undefined;
      this.startup.reject(new Error(ended ? `${error.message} while starting` : error.message));
      this.startup = undefined;
      return;
    }
    this.rejectInFlight(this.options.inFlightError?.(error) ?? error);
    this.onDeath?.(error);
  }

  private rejectInFlight(error: Error): void {
    const pending = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const p of pending) p.reject(error);
  }
}

/** A message's kind, for errors about it ('a number' when it is not one of ours). */
function describe(message: unknown): string {
  if (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { kind?: unknown }).kind === 'string'
  ) {
    return (message as { kind: string }).kind;
  }
  return message === null ? 'null' : `a ${typeof message}`;
}

/** What a request thread serves, once it is set up. */
export interface RequestServer<Ready, Request, Reply> {
  /** Sent to the starting side as the sign that the thread is ready. */
  ready: Ready;
  /** Answers one request; a throw (or rejection) reaches the starting side as an Error. */
  handle(request: Request): Promise<Reply> | Reply;
  /** Buffers of a reply that move to the starting side instead of being copied. */
  transfer?(reply: Reply): readonly Transferable[];
  /** The memory report sent with each reply and each error (`() => workerMemory(tf.memory())`). */
  memory?(): WorkerMemory;
}

/**
 * The request thread's side: `setUp` gets the start data (RequestThreadOptions.data); a throw
 * there is reported as a failed start. Requests are then answered one at a time, in order, also
 * when answering takes awaits (reading files).
 */
export function serveRequests<Data, Ready, Request, Reply>(
  who: string,
  setUp: (data: Data) => Promise<RequestServer<Ready, Request, Reply>>,
): void {
  const parent = parentThread<ToRequestThread<Request>, FromRequestThread<Ready, Reply>>(who);
  void (async () => {
    let server: RequestServer<Ready, Request, Reply>;
    try {
      server = await setUp(parent.data as Data);
    } catch (err) {
      parent.post({ kind: 'init-error', error: serializeError(err) });
      return;
    }
    const memory = (): { memory?: WorkerMemory } =>
      server.memory === undefined ? {} : { memory: server.memory() };
    let chain = Promise.resolve();
    parent.onMessage((message) => {
      chain = chain.then(async () => {
        const { id } = message;
        try {
          const reply = await server.handle(message.request);
          parent.post({ kind: 'reply', id, reply, ...memory() }, server.transfer?.(reply) ?? []);
        } catch (err) {
          // Also a reply that cannot be sent (one that structured cloning refuses).
          parent.post({ kind: 'failed', id, error: serializeError(err), ...memory() });
        }
      });
    });
    parent.post({ kind: 'ready', ready: server.ready });
  })();
}
