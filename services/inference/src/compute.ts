// The service's side of its compute worker: loads, forward passes and unloads as promises.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackendInfo, BackendName } from '@rnas/engine';
import { UnavailableError, type TfjsMemory } from '@rnas/grpc';
import type { ComputeInit, FromCompute, LoadedModelInfo, ToCompute } from './compute-protocol';

/** Where the compiled worker lives, from this module's own location (dist/ or, under jest, src/). */
export function defaultWorkerScript(): string {
  if (__filename.endsWith('.js')) return path.join(__dirname, 'compute-worker.js');
  return path.resolve(__dirname, '..', 'dist', 'compute-worker.js');
}

export interface ComputeEngineOptions {
  /** Tensor backend of the worker [RNAS_BACKEND, else auto]. */
  backend?: BackendName;
  /** The compiled worker script [compute-worker.js of this package's dist/]. */
  script?: string;
}

type Pending = { resolve(reply: FromCompute): void; reject(error: Error): void };

/**
 * One worker thread with its own tensor engine that holds every loaded model version and runs
 * their forward passes one at a time, while the event loop of the service goes on with gRPC,
 * image decoding and queueing. If the worker dies, every call in flight fails with UNAVAILABLE
 * and `onExit` is told; `restart` brings up a fresh one (with no models).
 */
export class ComputeEngine {
  /** Called when the worker stops without being asked to (a crash, running out of memory). */
  onExit: ((reason: string) => void) | undefined;
  private current: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopping = false;
  private alive = true;
  private memory: TfjsMemory = { numTensors: 0, numBytes: 0, numDataBuffers: 0 };

  private constructor(
    worker: Worker,
    readonly backend: BackendInfo,
    private readonly options: ComputeEngineOptions,
  ) {
    this.current = worker;
    this.attach(worker);
  }

  /** Starts the worker and waits until its tensor backend is up. */
  static async start(options: ComputeEngineOptions = {}): Promise<ComputeEngine> {
    const { worker, backend } = await spawnWorker(options);
    return new ComputeEngine(worker, backend, options);
  }

  /** The worker thread (its threadId, say, for diagnostics). */
  get worker(): Worker {
    return this.current;
  }

  /** The worker's tensor memory as of its last reply: what rnas_tfjs_* export. */
  get lastMemory(): TfjsMemory {
    return this.memory;
  }

  /** Reads, validates, loads and warms up the version in `dir` under `key`. */
  async load(key: string, dir: string, warmUpBatch: number): Promise<LoadedModelInfo> {
    const reply = await this.call({ type: 'load', id: 0, key, dir, warmUpBatch });
    if (reply.type !== 'loaded') throw new Error(`compute worker: unexpected ${reply.type} reply to load`);
    return reply.info;
  }

  /** Probabilities of `n` images; `input` is handed over to the worker (unusable afterwards). */
  async run(key: string, input: Float32Array, n: number): Promise<Float32Array> {
    const reply = await this.call({ type: 'run', id: 0, key, input, n }, [input.buffer as ArrayBuffer]);
    if (reply.type !== 'result') throw new Error(`compute worker: unexpected ${reply.type} reply to run`);
    return reply.output;
  }

  async unload(key: string): Promise<void> {
    await this.call({ type: 'unload', id: 0, key });
  }

  /** The worker's tensor memory now. */
  async readMemory(): Promise<TfjsMemory> {
    await this.call({ type: 'memory', id: 0 });
    return this.memory;
  }

  /** Whether the worker is up (false after it died, until `restart`). */
  get running(): boolean {
    return this.alive && !this.stopping;
  }

  /** A fresh worker after the last one died; models must be loaded again. */
  async restart(): Promise<void> {
    if (this.stopping) return;
    const { worker } = await spawnWorker(this.options);
    if (this.stopping) {
      await worker.terminate();
      return;
    }
    this.current = worker;
    this.alive = true;
    this.attach(worker);
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.failPending('the inference service is stopping');
    await this.current.terminate();
  }

  private call(message: ToCompute, transfer: ArrayBuffer[] = []): Promise<FromCompute> {
    if (this.stopping) return Promise.reject(new UnavailableError('the inference service is stopping'));
    if (!this.alive) return Promise.reject(new UnavailableError('the compute worker is not running'));
    const id = this.nextId++;
    return new Promise<FromCompute>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.current.postMessage({ ...message, id }, transfer);
    }).then((reply) => {
      if (reply.type === 'error') throw new Error(reply.message);
      return reply;
    });
  }

  private attach(worker: Worker): void {
    worker.on('message', (reply: FromCompute) => {
      if (!('id' in reply)) return;
      this.memory = reply.memory;
      const pending = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      pending?.resolve(reply);
    });
    const died = (reason: string): void => {
      if (this.stopping || worker !== this.current || !this.alive) return;
      this.alive = false;
      this.failPending(`the compute worker stopped (${reason}); models are being reloaded`);
      this.onExit?.(reason);
    };
    worker.on('error', (error) => died(error.message));
    worker.on('exit', (code) => died(`exit code ${code}`));
  }

  private failPending(reason: string): void {
    const error = new UnavailableError(reason);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}

function spawnWorker(options: ComputeEngineOptions): Promise<{ worker: Worker; backend: BackendInfo }> {
  const script = options.script ?? defaultWorkerScript();
  if (!existsSync(script)) {
    return Promise.reject(new Error(`compute worker ${script} is missing: build with \`npx tsc -b\` first`));
  }
  const init: ComputeInit = { backend: options.backend };
  const worker = new Worker(script, { workerData: init });
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      void worker.terminate();
      reject(error);
    };
    const onExit = (code: number): void =>
      fail(new Error(`compute worker exited with code ${code} while starting`));
    worker.once('error', fail);
    worker.once('exit', onExit);
    worker.once('message', (message: FromCompute) => {
      worker.off('error', fail);
      worker.off('exit', onExit);
      if (message.type === 'ready') resolve({ worker, backend: message.backend });
      else
        fail(
          new Error(
            `compute worker: ${message.type === 'init-error' ? message.message : 'no ready message'}`,
          ),
        );
    });
  });
}
