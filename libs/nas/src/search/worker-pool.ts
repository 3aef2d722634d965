// An Evaluator on worker threads: each worker has its own engine instance (WebAssembly runs one
// thread per instance in Node.js, so this is how a search uses several cores). The dataset is put
// in shared memory once; each candidate job carries its tensors in and its trained tensors out.
// Both members of a pair go to different workers when two are free and start from the same
// snapshot, so a pair on two workers gives exactly what it gives on one.
//
// Workers run compiled JavaScript: `libs/nas/dist/search/evaluator-worker.js`, made by `npx tsc -b`.
// Code running from the TypeScript sources (jest) uses that same file, so build before running
// tests that start workers (their test does it, see worker-pool.test.ts).
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackendInfo, BackendName } from '@rnas/engine';
import type { Split } from '@rnas/data';
import type { Genotype } from '../genotype';
import type { CandidateJob, CandidateResult, SearchData } from './candidate';
import {
  pairJobs,
  validationJobs,
  type Evaluator,
  type EvaluatorSetup,
  type PairContext,
  type ValidationContext,
} from './evaluator';
import type { HostParams, WeightSet } from './weight-set';

export interface WorkerPoolOptions {
  /** Number of worker threads, >= 1. */
  workers: number;
  /** Engine backend for every worker; default: RNAS_BACKEND, else 'auto' (as `initBackend`). */
  backend?: BackendName;
  /** The compiled worker script; default: evaluator-worker.js of this package's dist/. */
  script?: string;
}

/** What a worker receives at start. */
export interface WorkerInit {
  setup: EvaluatorSetup;
  backend: BackendName | undefined;
}

export type ToWorker = { type: 'job'; id: number; job: CandidateJob };

export type FromWorker =
  | { type: 'ready'; backend: BackendInfo }
  | { type: 'init-error'; message: string }
  | { type: 'result'; id: number; result: CandidateResult }
  | { type: 'error'; id: number; message: string };

/** Where the compiled worker lives, from this module's own location (dist/ or src/). */
export function defaultWorkerScript(): string {
  const here = __dirname;
  if (__filename.endsWith('.js')) return path.join(here, 'evaluator-worker.js');
  return path.resolve(here, '..', '..', 'dist', 'search', 'evaluator-worker.js');
}

/** The buffers of a tensor map, to transfer rather than copy. */
export function transferList(params: HostParams): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of Object.values(params)) {
    if (t.data.buffer instanceof ArrayBuffer) out.add(t.data.buffer);
  }
  return [...out];
}

function shareSplit(split: Split): Split {
  const share = <T extends Uint8Array | Int32Array>(a: T, make: (b: SharedArrayBuffer) => T): T => {
    if (a.buffer instanceof SharedArrayBuffer) return a;
    const copy = make(new SharedArrayBuffer(a.byteLength));
    copy.set(a);
    return copy;
  };
  const images = share(split.images, (b) => new Uint8Array(b));
  const labels = share(split.labels, (b) => new Int32Array(b));
  const coarse =
    split.coarseLabels === undefined
      ? {}
      : { coarseLabels: share(split.coarseLabels, (b) => new Int32Array(b)) };
  return { ...split, images, labels, ...coarse };
}

/** The data in shared memory, so that every worker reads the one copy. */
export function shareData(data: SearchData): SearchData {
  return { train: shareSplit(data.train), val: shareSplit(data.val) };
}

interface Pending {
  id: number;
  job: CandidateJob;
  resolve: (r: CandidateResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | null;
}

export class WorkerPoolEvaluator implements Evaluator {
  readonly concurrency: number;
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    private readonly setup: EvaluatorSetup,
    private readonly slots: Slot[],
    /** The backend each worker reported. */
    readonly backend: BackendInfo,
  ) {
    this.concurrency = slots.length;
    for (const slot of slots) this.listen(slot);
  }

  /** Starts the workers and waits until each has its engine backend ready. */
  static async start(setup: EvaluatorSetup, options: WorkerPoolOptions): Promise<WorkerPoolEvaluator> {
    const count = options.workers;
    if (!Number.isInteger(count) || count < 1 || count > 256) {
      throw new Error(`workers: expected an integer in [1, 256], got ${String(count)}`);
    }
    const script = options.script ?? defaultWorkerScript();
    if (!existsSync(script)) {
      throw new Error(
        `evaluator worker script ${script} does not exist; build the workspace first (npx tsc -b)`,
      );
    }
    const shared: EvaluatorSetup = { ...setup, data: shareData(setup.data) };
    const init: WorkerInit = { setup: shared, backend: options.backend };
    const workers: Worker[] = [];
    try {
      const infos = await Promise.all(
        Array.from({ length: count }, () => {
          const worker = new Worker(script, { workerData: init });
          workers.push(worker);
          return waitReady(worker);
        }),
      );
      const names = new Set(infos.map((i) => i.tfBackend));
      if (names.size !== 1)
        throw new Error(`workers started on different backends: ${[...names].join(', ')}`);
      return new WorkerPoolEvaluator(
        shared,
        workers.map((worker) => ({ worker, busy: null })),
        infos[0],
      );
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
  }

  evaluatePair(
    snapshot: WeightSet,
    genotypes: readonly [Genotype, Genotype],
    ctx: PairContext,
  ): Promise<[CandidateResult, CandidateResult]> {
    const [a, b] = pairJobs(this.setup, snapshot, genotypes, ctx);
    return Promise.all([this.submit(a), this.submit(b)]);
  }

  validate(
    snapshot: WeightSet,
    genotypes: readonly Genotype[],
    ctx: ValidationContext,
  ): Promise<CandidateResult[]> {
    return Promise.all(validationJobs(this.setup, snapshot, genotypes, ctx).map((job) => this.submit(job)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('evaluator: closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private submit(job: CandidateJob): Promise<CandidateResult> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy !== null) continue;
      const next = this.queue.shift();
      if (next === undefined) return;
      slot.busy = next;
      const message: ToWorker = { type: 'job', id: next.id, job: next.job };
      slot.worker.postMessage(message, transferList(next.job.params));
    }
  }

  private listen(slot: Slot): void {
    slot.worker.on('message', (msg: FromWorker) => {
      const pending = slot.busy;
      if ((msg.type !== 'result' && msg.type !== 'error') || pending === null || msg.id !== pending.id) {
        this.fail(new Error(`evaluator worker sent an unexpected message (${msg.type})`));
        return;
      }
      slot.busy = null;
      if (msg.type === 'result') pending.resolve(msg.result);
      else pending.reject(new Error(`evaluator worker: ${msg.message}`));
      this.dispatch();
    });
    slot.worker.on('error', (err) => this.fail(new Error(`evaluator worker crashed: ${err.message}`)));
    slot.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`evaluator worker exited with code ${code}`));
    });
  }

  /** A broken pool rejects what is in flight and queued, and every later call. */
  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    for (const slot of this.slots) {
      slot.busy?.reject(this.failure);
      slot.busy = null;
    }
    for (const p of this.queue.splice(0)) p.reject(this.failure);
  }
}

function waitReady(worker: Worker): Promise<BackendInfo> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromWorker): void => {
      cleanup();
      if (msg.type === 'ready') resolve(msg.backend);
      else if (msg.type === 'init-error')
        reject(new Error(`evaluator worker failed to start: ${msg.message}`));
      else reject(new Error(`evaluator worker sent ${msg.type} before it was ready`));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new Error(`evaluator worker failed to start: ${err.message}`));
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`evaluator worker exited with code ${code} while starting`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
