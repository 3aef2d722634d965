// Our SIMD kernels on every thread of the threaded wasm backend. tfjs threads its plain a·b, but
// the gradients of a 1x1 convolution (a·bᵀ, aᵀ·b: with the forward, a third to a half of a
// training step) went through transposed copies, or our one-thread kernels. Here each engine with T threads keeps T - 1 Node worker threads, each with its own instance of
// simd.ts's module on the backend's shared memory. A product is cut into whole output rows: the
// workers take a share each and the calling thread the last one, so every output element is summed
// by one thread in the one-thread order and results do not depend on the thread count.
//
// The threads meet through a small SharedArrayBuffer, not messages: a worker sleeps in
// Atomics.wait on its request counter; the caller writes the operands, bumps the counter, wakes it,
// runs its own share and waits for the worker's done counter. A message round trip costs more than
// a whole product at these sizes. Workers are unreferenced, so a process exits when its work is done.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DRIVERS, type DriverId } from './gemm';
import { backendMemory, isSharedMemory, simdKernels } from './simd';

/** Int32 slots per worker in the control block. */
export const SLOTS = 32;
export const SEQ = 0;
export const DONE = 1;
export const FAILED = 2;
export const DRIVER = 3;
/** The worker's range of work units. */
export const START = 4;
export const END = 5;
/** How many arguments follow, from ARGS (read unsigned: addresses reach 4 GiB). */
export const COUNT = 6;
export const ARGS = 8;
export const MAX_ARGS = SLOTS - ARGS;

/**
 * Below this much work (multiply-adds) a call stays on the calling thread: waking a worker costs
 * about 50 us here, so products split from about 3M multiply-adds on (fused 1x1 convolutions:
 * 1.6M 82 vs 94 us on one thread vs two, 6.4M 348 vs 177 us).
 */
const MIN_SPLIT_WORK = 1 << 22;
/** How long the caller waits for a worker before it gives up (a worker cannot die silently). */
const WAIT_LIMIT_MS = 120_000;

/** The compiled worker entry (dist/), also when this module runs from its TypeScript source. */
function workerScript(): string {
  const file = 'kernel-thread.js';
  if (__filename.endsWith('.js')) return path.join(__dirname, file);
  return path.join(__dirname, '..', '..', 'dist', 'kernels', file);
}

export class KernelThreads {
  private readonly control: Int32Array;
  private readonly args: Uint32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;
  /** Calls split among the threads so far (the others ran on the calling thread alone). */
  splitCalls = 0;

  constructor(
    private readonly backend: BackendWasm,
    memory: object,
    count: number,
  ) {
    const buffer = new SharedArrayBuffer(4 * SLOTS * count);
    this.control = new Int32Array(buffer);
    this.args = new Uint32Array(buffer);
    for (let index = 0; index < count; index++) {
      const worker = new Worker(workerScript(), { workerData: { memory, control: buffer, index } });
      worker.unref();
      this.workers.push(worker);
    }
  }

  /** Threads a product is split among: the workers and the caller. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs `driver` with `args` over work units [0, total), cut at multiples of `align` among the
   * threads; calls with less than MIN_SPLIT_WORK of `work` run on the calling thread alone.
   */
  run(driver: DriverId, args: readonly number[], total: number, align: number, work: number): void {
    const kernels = simdKernels(this.backend);
    if (kernels === null) throw new Error('kernel threads: the SIMD kernels are not available');
    if (args.length > MAX_ARGS)
      throw new Error(`kernel threads: ${args.length} arguments, at most ${MAX_ARGS}`);
    const units = Math.ceil(total / align);
    const parts = Math.min(this.threads, units);
    if (parts < 2 || work < MIN_SPLIT_WORK) {
      DRIVERS[driver](kernels, args, 0, total);
      return;
    }
    this.splitCalls++;
    const seq = ++this.seq | 0;
    const bounds: number[] = [];
    for (let t = 0; t <= parts; t++) {
      bounds.push(Math.min(total, Math.floor((units * t) / parts) * align));
    }
    for (let w = 0; w < parts - 1; w++) {
      const base = w * SLOTS;
      this.control[base + DRIVER] = driver;
      this.control[base + START] = bounds[w];
      this.control[base + END] = bounds[w + 1];
      this.control[base + COUNT] = args.length;
      this.args.set(args, base + ARGS);
      Atomics.store(this.control, base + SEQ, seq);
      Atomics.notify(this.control, base + SEQ);
    }
    DRIVERS[driver](kernels, args, bounds[parts - 1], bounds[parts]);
    let failed = false;
    for (let w = 0; w < parts - 1; w++) {
      const base = w * SLOTS;
      const started = Date.now();
      for (let spin = 0; Atomics.load(this.control, base + DONE) !== seq; spin++) {
        if (spin < 2000) continue;
        const done = Atomics.load(this.control, base + DONE);
        if (done !== seq) Atomics.wait(this.control, base + DONE, done, 1000);
        if (Date.now() - started > WAIT_LIMIT_MS) {
          throw new Error(`kernel threads: worker ${w} did not finish its share in ${WAIT_LIMIT_MS} ms`);
        }
      }
      failed ||= this.control[base + FAILED] !== 0;
    }
    if (failed) throw new Error('kernel threads: a worker failed in its share of a kernel (see its stderr)');
  }
}

const pools = new WeakMap<object, KernelThreads | null>();

/** The backend's thread count (tfjs's own; 1 for the one-thread build). */
export function backendThreads(backend: BackendWasm): number {
  const tfjs = (backend.wasm as unknown as { tfjs?: { getThreadsCount?: () => number } }).tfjs;
  return Math.max(1, tfjs?.getThreadsCount?.() ?? 1);
}

/**
 * The kernel threads of a threaded backend (its thread count less the calling thread), or null
 * for the one-thread build, one thread, or no SIMD: callers then run products on their own thread.
 */
export function kernelThreads(backend: BackendWasm): KernelThreads | null {
  const memory = backendMemory(backend);
  if (memory === undefined || !isSharedMemory(memory)) return null;
  let pool = pools.get(memory);
  if (pool === undefined) {
    const threads = backendThreads(backend);
    pool =
      threads > 1 && simdKernels(backend) !== null ? new KernelThreads(backend, memory, threads - 1) : null;
    pools.set(memory, pool);
  }
  return pool;
}

/**
 * Runs `driver` over [0, total) on the backend's kernel threads where it has them, else on this
 * thread (see KernelThreads.run).
 */
export function runSplit(
  backend: BackendWasm,
  driver: DriverId,
  args: readonly number[],
  total: number,
  align: number,
  work: number,
): void {
  const threads = kernelThreads(backend);
  if (threads !== null) {
    threads.run(driver, args, total, align, work);
    return;
  }
  const kernels = simdKernels(backend);
  if (kernels === null) throw new Error('kernel threads: the SIMD kernels are not available');
  DRIVERS[driver](kernels, args, 0, total);
}
