// The service's side of its compute worker: loads, forward passes and unloads as promises.
import type { Worker } from 'node:worker_threads';
import type { BackendInfo, BackendName } from '@rnas/engine';
import { UnavailableError } from '@rnas/grpc';
import { RequestThread, workerScript, type WorkerMemory } from '@rnas/workers';
import type { ComputeInit, ComputeReply, ComputeRequest, LoadedModelInfo } from './compute-protocol';

export interface ComputeEngineOptions {
  /** Tensor backend of the worker [RNAS_BACKEND, else auto]. */
  backend?: BackendName;
  /** The compiled worker script [compute-worker.js of this package's dist/]. */
  script?: string;
}

type ComputeThread = RequestThread<BackendInfo, ComputeRequest, ComputeReply>;

/**
 * One worker thread with its own tensor engine that holds every loaded model version and runs
 * their forward passes one at a time, while the event loop of the service goes on with gRPC,
 * image decoding and queueing. If the worker dies, every call in flight fails with UNAVAILABLE
 * and `onExit` is told; `restart` brings up a fresh one (with no models).
 */
export class ComputeEngine {
  /** Called when the worker stops without being asked to (a crash, running out of memory). */
  onExit: ((reason: string) => void) | undefined;
  /** The tensor backend the first worker started on. */
  readonly backend: BackendInfo;
  private stopping = false;
  private memory: WorkerMemory = { numTensors: 0, numBytes: 0, numDataBuffers: 0 };

  private constructor(
    private current: ComputeThread,
    private readonly options: ComputeEngineOptions,
  ) {
    this.backend = current.ready;
    this.attach(current);
  }

  /** Starts the worker and waits until its tensor backend is up. */
  static async start(options: ComputeEngineOptions = {}): Promise<ComputeEngine> {
    return new ComputeEngine(await spawnThread(options), options);
  }

  /** The worker thread (its threadId, say, for diagnostics). */
  get worker(): Worker {
    return this.current.worker;
  }

  /** The worker's tensor memory as of its last reply: what rnas_tfjs_* export. */
  get lastMemory(): WorkerMemory {
    return this.memory;
  }

  /** Reads, validates, loads and warms up the version in `dir` under `key`. */
  async load(key: string, dir: string, warmUpBatch: number): Promise<LoadedModelInfo> {
    const reply = await this.call({ type: 'load', key, dir, warmUpBatch });
    if (reply.type !== 'loaded') throw new Error(`compute worker: unexpected ${reply.type} reply to load`);
    return reply.info;
  }

  /** Probabilities of `n` images; `input` is handed over to the worker (unusable afterwards). */
  async run(key: string, input: Float32Array, n: number): Promise<Float32Array> {
    const reply = await this.call({ type: 'run', key, input, n }, [input.buffer as ArrayBuffer]);
    if (reply.type !== 'result') throw new Error(`compute worker: unexpected ${reply.type} reply to run`);
    return reply.output;
  }

  async unload(key: string): Promise<void> {
    await this.call({ type: 'unload', key });
  }

  /** The worker's tensor memory now. */
  async readMemory(): Promise<WorkerMemory> {
    await this.call({ type: 'memory' });
    return this.memory;
  }

  /** Whether the worker is up (false after it died, until `restart`). */
  get running(): boolean {
    return this.current.running && !this.stopping;
  }

  /** A fresh worker after the last one died; models must be loaded again. */
  async restart(): Promise<void> {
    if (this.stopping) return;
    const thread = await spawnThread(this.options);
    if (this.stopping) {
      await thread.terminate();
      return;
    }
    this.current = thread;
    this.attach(thread);
  }

  async close(): Promise<void> {
    this.stopping = true;
    await this.current.terminate(new UnavailableError('the inference service is stopping'));
  }

  private attach(thread: ComputeThread): void {
    thread.onMemory = (memory) => (this.memory = memory);
    // A terminated thread (close) reports no death.
    thread.onDeath = (error) => this.onExit?.(error.reason);
  }

  private call(request: ComputeRequest, transfer: ArrayBuffer[] = []): Promise<ComputeReply> {
    if (this.stopping) return Promise.reject(new UnavailableError('the inference service is stopping'));
    if (!this.current.running) {
      return Promise.reject(new UnavailableError('the compute worker is not running'));
    }
    return this.current.request(request, transfer);
  }
}

function spawnThread(options: ComputeEngineOptions): Promise<ComputeThread> {
  return RequestThread.start<BackendInfo, ComputeRequest, ComputeReply>({
    script: options.script ?? workerScript(__filename, 'compute-worker.js'),
    label: 'compute worker',
    data: { backend: options.backend } satisfies ComputeInit,
    inFlightError: (error) =>
      new UnavailableError(`the compute worker stopped (${error.reason}); models are being reloaded`),
  });
}
