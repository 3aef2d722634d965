// Our SIMD kernels on every thread of the threaded wasm backend. tfjs threads its plain a·b, but
// the gradients of a 1x1 convolution (a·bᵀ, aᵀ·b: with the forward, a third to a half of a
// training step) went through transposed copies, or our one-thread kernels. Here each engine with T threads keeps T - 1 Node worker threads, each with its own instance of
// simd.ts's module on the backend's shared memory. A product is cut into whole output rows: the
// workers take a share each and the calling thread the last one, so every output element is summed
// by one thread in the one-thread order and results do not depend on the thread count.
//
// The threads meet through a small SharedArrayBuffer, not messages: a worker sleeps in
// Atomics.wait on its request counter; the caller writes the operands, bumps the counter, wakes it,
// and both claim chunks of the work from a shared counter until none is left, then the caller
// waits until every chunk is counted finished. A message round trip costs more than a whole
// product at these sizes, and a worker often wakes late or shares its core with tfjs's own
// thread: with fixed halves the caller spent 15% of a training step waiting for the worker's.
// Workers are unreferenced, so a process exits when its work is done.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DRIVERS, type DriverId } from './gemm';
import { backendMemory, isSharedMemory, simdKernels } from './simd';

/** Int32 slots per worker in the control block; the shared header takes the first slot's place. */
export const SLOTS = 32;
/** Header (shared by all threads): the next chunk to claim, tagged with the call's sequence number. */
export const NEXT = 0;
/** Header: chunks finished so far in this call; and whether any failed. */
export const FINISHED = 1;
export const FAILED = 2;
/** Per worker, from its slot's base: the call it was woken for and the call's description. */
export const SEQ = 0;
export const DRIVER = 3;
/** The call's work units [0, TOTAL) in CHUNKS chunks cut at multiples of ALIGN. */
export const TOTAL = 4;
export const ALIGN = 5;
export const CHUNKS = 6;
/** How many arguments follow, from ARGS (read unsigned: addresses reach 4 GiB). */
export const COUNT = 7;
export const ARGS = 8;
export const MAX_ARGS = SLOTS - ARGS;

/** Below this much work (multiply-adds) a call stays on the calling thread: waking a worker costs more. */
const MIN_SPLIT_WORK = 1 << 22;

/**
 * The `work` of a one-pass elementwise or per-channel kernel over `values` elements, in
 * multiply-adds of a product: such a pass takes about 8 times as long per element as a product
 * per multiply-add (0.3 ms for 1M elements against 4M multiply-adds in 0.16 ms), so it is split
 * from about 512k elements ([64, 32, 32, 8]), where a worker's ~50 us wake-up pays.
 */
export const passWork = (values: number): number => 8 * values;
/** Chunks per thread: a thread that starts late or runs slowly leaves its chunks to the others. */
const CHUNKS_PER_THREAD = 8;
/** How long the caller waits for a worker before it gives up (a worker cannot die silently). */
const WAIT_LIMIT_MS = 120_000;

/** Work units [start, end) of chunk `c` of `chunks` over [0, total) cut at multiples of `align`. */
export function chunkBounds(c: number, chunks: number, total: number, align: number): [number, number] {
  const units = Math.ceil(total / align);
  const at = (k: number) => Math.min(total, Math.floor((units * k) / chunks) * align);
  return [at(c), at(c + 1)];
}

/**
 * Claims the next chunk of call `seq` (the header's NEXT holds the call's sequence number in its
 * high bits and the next chunk in its low 16): the chunk's index, or -1 when none is left or the
 * call is over (a worker that wakes late must not touch the next call's work).
 */
export function claimChunk(control: Int32Array, seq: number, chunks: number): number {
  for (;;) {
    const value = Atomics.load(control, NEXT);
    if (value >>> 16 !== (seq & 0x7fff)) return -1;
    const chunk = value & 0xffff;
    if (chunk >= chunks) return -1;
    if (Atomics.compareExchange(control, NEXT, value, value + 1) === value) return chunk;
  }
}

/**
 * Runs chunks of the call until none is left, counting each one finished (failed or not) in the
 * header; returns whether all of this thread's chunks succeeded.
 */
export function runChunks(
  control: Int32Array,
  seq: number,
  run: (start: number, end: number) => void,
  chunks: number,
  total: number,
  align: number,
): boolean {
  let ok = true;
  for (let c = claimChunk(control, seq, chunks); c >= 0; c = claimChunk(control, seq, chunks)) {
    const [start, end] = chunkBounds(c, chunks, total, align);
    try {
      run(start, end);
    } catch (error) {
      ok = false;
      Atomics.store(control, FAILED, 1);
      process.stderr.write(`kernel threads: a chunk failed: ${String(error)}\n`);
    }
    Atomics.add(control, FINISHED, 1);
    Atomics.notify(control, FINISHED);
  }
  return ok;
}

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
    // The header, then one slot per worker.
    const buffer = new SharedArrayBuffer(4 * SLOTS * (count + 1));
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
   * Runs `driver` with `args` over work units [0, total), in chunks cut at multiples of `align`
   * that the threads claim one at a time (so a worker that wakes late or runs slowly takes fewer);
   * calls with less than MIN_SPLIT_WORK of `work` run on the calling thread alone. Every unit is
   * computed by one thread with the same code, so results do not depend on who took which chunk.
   */
  run(driver: DriverId, args: readonly number[], total: number, align: number, work: number): void {
    const kernels = simdKernels(this.backend);
    if (kernels === null) throw new Error('kernel threads: the SIMD kernels are not available');
    if (args.length > MAX_ARGS)
      throw new Error(`kernel threads: ${args.length} arguments, at most ${MAX_ARGS}`);
    const units = Math.ceil(total / align);
    const chunks = Math.min(units, CHUNKS_PER_THREAD * this.threads, 0xffff);
    if (chunks < 2 || work < MIN_SPLIT_WORK) {
      DRIVERS[driver](kernels, args, 0, total);
      return;
    }
    this.splitCalls++;
    const seq = (this.seq = (this.seq + 1) & 0x7fff);
    Atomics.store(this.control, FINISHED, 0);
    Atomics.store(this.control, FAILED, 0);
    Atomics.store(this.control, NEXT, seq << 16);
    for (let w = 0; w < this.workers.length; w++) {
      const base = (w + 1) * SLOTS;
      this.control[base + DRIVER] = driver;
      this.control[base + TOTAL] = total;
      this.control[base + ALIGN] = align;
      this.control[base + CHUNKS] = chunks;
      this.control[base + COUNT] = args.length;
      this.args.set(args, base + ARGS);
      Atomics.store(this.control, base + SEQ, seq);
      Atomics.notify(this.control, base + SEQ);
    }
    runChunks(
      this.control,
      seq,
      (start, end) => DRIVERS[driver](kernels, args, start, end),
      chunks,
      total,
      align,
    );
    // Chunks a worker claimed may still be running: wait until every chunk is counted.
    const started = Date.now();
    for (let spin = 0; ; spin++) {
      const finished = Atomics.load(this.control, FINISHED);
      if (finished === chunks) break;
      if (spin < 2000) continue;
      Atomics.wait(this.control, FINISHED, finished, 1000);
      if (Date.now() - started > WAIT_LIMIT_MS) {
        throw new Error(`kernel threads: a worker did not finish its chunks in ${WAIT_LIMIT_MS} ms`);
      }
    }
    if (Atomics.load(this.control, FAILED) !== 0) {
      throw new Error('kernel threads: a chunk of a kernel failed (see stderr)');
    }
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
