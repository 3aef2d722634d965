// An Evaluator on worker threads: each worker has its own engine instance (WebAssembly runs one
// thread per instance in Node.js, so this is how a search uses several cores). The dataset is put
// in shared memory once; each candidate job carries its tensors in and its trained tensors out.
// Both members of a pair go to different workers when two are free and start from the same
// snapshot, so a pair on two workers gives exactly what it gives on one.
//
// Workers run compiled JavaScript: `libs/nas/dist/search/evaluator-worker.js`, made by `npx tsc -b`.
// Code running from the TypeScript sources (jest) uses that same file, so build before running
// tests that start workers (their test does it, see worker-pool.test.ts).
import { wasmThreadsPerEngine, type BackendInfo, type BackendName } from '@rnas/engine';
import { RequestThread, workerScript } from '@rnas/workers';
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
  /**
   * Threads of each worker's wasm engine; default: this machine's cores divided among the workers
   * (at least 1). Candidates in parallel scale better than threads within one small step, so a
   * pool as large as the cores gives each worker one thread.
   */
  wasmThreads?: number;
}

/** What a worker receives at start. */
export interface WorkerInit {
  setup: EvaluatorSetup;
  backend: BackendName | undefined;
  wasmThreads: number;
}

/** An evaluator thread: ready with its engine backend, one candidate job per request. */
type EvaluatorThread = RequestThread<BackendInfo, CandidateJob, CandidateResult>;

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
  job: CandidateJob;
  resolve: (r: CandidateResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  thread: EvaluatorThread;
  busy: boolean;
}

export class WorkerPoolEvaluator implements Evaluator {
  readonly concurrency: number;
  private readonly slots: Slot[];
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Set<Pending>();
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    private readonly setup: EvaluatorSetup,
    threads: EvaluatorThread[],
    /** The backend each worker reported. */
    readonly backend: BackendInfo,
  ) {
    this.concurrency = threads.length;
    this.slots = threads.map((thread) => ({ thread, busy: false }));
    // A terminated thread reports no death: close() breaks no pool.
    for (const thread of threads) thread.onDeath = (error) => this.fail(error);
  }

  /** Starts the workers and waits until each has its engine backend ready. */
  static async start(setup: EvaluatorSetup, options: WorkerPoolOptions): Promise<WorkerPoolEvaluator> {
    const count = options.workers;
    if (!Number.isInteger(count) || count < 1 || count > 256) {
      throw new Error(`workers: expected an integer in [1, 256], got ${String(count)}`);
    }
    const shared: EvaluatorSetup = { ...setup, data: shareData(setup.data) };
    const init: WorkerInit = {
      setup: shared,
      backend: options.backend,
      wasmThreads: options.wasmThreads ?? wasmThreadsPerEngine(count),
    };
    const threads = await RequestThread.startMany<BackendInfo, CandidateJob, CandidateResult>(count, {
      script: options.script ?? workerScript(__filename, 'evaluator-worker.js'),
      label: 'evaluator worker',
      data: init,
    });
    const names = new Set(threads.map((t) => t.ready.tfBackend));
    if (names.size !== 1) {
      await Promise.all(threads.map((t) => t.terminate()));
      throw new Error(`workers started on different backends: ${[...names].join(', ')}`);
    }
    return new WorkerPoolEvaluator(shared, threads, threads[0].ready);
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
    await Promise.all(this.slots.map((s) => s.thread.terminate()));
  }

  /** Evaluates one job on the next free worker (jobs run in the order submitted). */
  submit(job: CandidateJob): Promise<CandidateResult> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  /** Hands the oldest queued jobs to the free workers, in the order the workers were started. */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy) continue;
      const next = this.queue.shift();
      if (next === undefined) return;
      slot.busy = true;
      this.inFlight.add(next);
      slot.thread.request(next.job, transferList(next.job.params)).then(
        (result) => this.settle(slot, next, () => next.resolve(result)),
        (err: Error) =>
          this.settle(slot, next, () => next.reject(new Error(`evaluator worker: ${err.message}`))),
      );
    }
  }

  private settle(slot: Slot, pending: Pending, outcome: () => void): void {
    // A broken pool has already rejected every job it had.
    if (this.failure !== null) return;
    slot.busy = false;
    this.inFlight.delete(pending);
    outcome();
    this.dispatch();
  }

  /** A broken pool rejects what is in flight and queued, and every later call. */
  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    for (const p of [...this.inFlight, ...this.queue.splice(0)]) p.reject(this.failure);
    this.inFlight.clear();
  }
}
