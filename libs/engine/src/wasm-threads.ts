// The wasm backend on several cores. tfjs-backend-wasm ships a threaded SIMD build (XNNPACK with a
// pthreadpool of WebAssembly threads over one shared memory) but never uses it in Node.js: its
// WASM_HAS_MULTITHREAD_SUPPORT flag is false there (tfjs issue 3830, from when Node's workers
// could not run Emscripten's pthreads). What stands in the way in Node 20 is the loader, not the
// runtime:
//
// - tfjs hands Emscripten the pthread worker script and the main script as Blob URLs, which
//   Node's `Worker` and the worker's `importScripts` (fs.readFileSync) cannot open. Here the
//   worker is wasm-pthread-worker.js of this package, which evaluates the package's own worker
//   code, and the main script is the package's threaded-simd.js file.
// - The C++ side caps the pool at emscripten_num_logical_cores() / 2 ("x86 has two hyperthreads
//   per core"), read once while the module's constructors run: 1 on a 2-core machine. The module
//   reads that count from `require('os').cpus()`, so while it initialises, os.cpus reports twice
//   the threads asked for; it is restored as soon as the module is ready.
// - Running pthreads keep a Node worker referenced: the pool's threads are unreferenced once
//   started, so that a process exits when its own work is done.
// - Emscripten starts 8 pthread workers up front (PTHREAD_POOL_SIZE, written into the script),
//   each a Node worker with its own instance of the module: ~70 MB and ~0.5 s per engine. The
//   script is loaded with that count set to what the pool will use (threads - 1: the calling
//   thread is one of them); where the text is not found (another package version), as shipped.
//
// XNNPACK splits each operator's output among the threads; every output element is still summed
// by one thread in the one-thread order, so results equal the one-thread build's (tested).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { CpuInfo } from 'node:os';
import { availableParallelism } from 'node:os';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { backendThreads } from './kernels/kernel-threads';
import { tf } from './tf';

/** tfjs's build creates 8 pthread workers up front and caps its pool at 8. */
export const MAX_WASM_THREADS = 8;

const requireHere = createRequire(__filename);

/** Parses a thread count (RNAS_WASM_THREADS or an option) with an error naming the source and value. */
export function parseWasmThreads(value: string, source = 'RNAS_WASM_THREADS'): number {
  const text = value.trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new Error(
      `${source}: expected an integer in [1, ${MAX_WASM_THREADS}] (threads per wasm engine), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * The cores this process may use: RNAS_CPUS (a container's CPU limit, which Node cannot see: in
 * Kubernetes the downward API's `limits.cpu`), else the CPUs Node reports as available.
 */
export function availableCores(env: NodeJS.ProcessEnv = process.env): number {
  const set = env.RNAS_CPUS;
  if (set === undefined || set.trim() === '') return availableParallelism();
  const text = set.trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`RNAS_CPUS: expected a whole number of cores >= 1, got ${JSON.stringify(set)}`);
  }
  return n;
}

/**
 * Threads for each of `engines` wasm engines that share this process's cores (evaluator workers,
 * say): RNAS_WASM_THREADS when set, else the cores (`availableCores`) divided among them (at least
 * 1, at most 8). One engine gets them all.
 */
export function wasmThreadsPerEngine(
  engines = 1,
  env: NodeJS.ProcessEnv = process.env,
  cores?: number,
): number {
  const set = env.RNAS_WASM_THREADS;
  if (set !== undefined && set.trim() !== '') return parseWasmThreads(set);
  const total = cores ?? availableCores(env);
  return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(total / Math.max(1, engines))));
}

/**
 * Threads for the engine of a process that also answers requests (the inference service's compute
 * worker): RNAS_WASM_THREADS, else the cores less one, which the gRPC thread, image decoding and
 * the event loop need. On 2 cores, 16 Classify clients got 163 images/s with one compute thread
 * and 112 with two, whose pthreads and the gRPC thread took turns on the same cores
 * (docs/benchmarks.md, "Serving").
 */
export function servingWasmThreads(env: NodeJS.ProcessEnv = process.env): number {
  return wasmThreadsPerEngine(1, env, Math.max(1, availableCores(env) - 1));
}

/** Threads for one wasm engine: RNAS_WASM_THREADS, else the cores this process may use (at most 8). */
export function defaultWasmThreads(env: NodeJS.ProcessEnv = process.env): number {
  return wasmThreadsPerEngine(1, env);
}

/** The compiled pthread entry (dist/), also when this module runs from its TypeScript source. */
function pthreadWorkerScript(): string {
  const file = 'wasm-pthread-worker.js';
  if (__filename.endsWith('.js')) return path.join(__dirname, file);
  return path.join(__dirname, '..', 'dist', file);
}

interface EmscriptenWorker {
  unref(): void;
}

interface ThreadedModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  PThread: { runningWorkers: EmscriptenWorker[] };
  tfjs?: unknown;
}

type Factory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

/** Runs `init` while os.cpus() reports `count` CPUs (see the note at the top). */
async function withReportedCpus<T>(count: number, init: () => Promise<T>): Promise<T> {
  const os = requireHere('os') as { cpus: () => CpuInfo[] };
  const cpus = os.cpus;
  const model = cpus()[0];
  os.cpus = () => Array.from({ length: count }, () => model as CpuInfo);
  try {
    return await init();
  } finally {
    os.cpus = cpus;
  }
}

const POOL_SIZE = 'var pthreadPoolSize=8;';

/** The threaded build's factory, with Emscripten's pthread pool sized to `workers`. */
export function threadedFactory(mainScript: string, workers: number): Factory {
  const source = readFileSync(mainScript, 'utf8');
  if (source.split(POOL_SIZE).length !== 2) return requireHere(mainScript) as Factory;
  const sized = source.replace(POOL_SIZE, `var pthreadPoolSize=${workers};`);
  // As Node loads a CommonJS file (the script assigns its factory to module.exports), in this
  // realm: a vm context of its own would give the module another realm's WebAssembly.Memory, which
  // the kernels of simd.ts (and jest's sandbox) would not recognise.
  const wrapper = new Function(
    'exports',
    'require',
    'module',
    '__filename',
    '__dirname',
    `${sized}\n//# sourceURL=${mainScript}`,
  ) as (e: object, r: NodeJS.Require, m: { exports: unknown }, f: string, d: string) => void;
  const module = { exports: {} as unknown };
  wrapper(module.exports as object, createRequire(mainScript), module, mainScript, path.dirname(mainScript));
  return module.exports as Factory;
}

async function createThreadedBackend(threads: number): Promise<BackendWasm> {
  const dir = path.dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const mainScript = path.join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const binary = path.join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.wasm');
  const worker = pthreadWorkerScript();
  const factory = threadedFactory(mainScript, threads - 1);
  const module = await withReportedCpus(2 * threads, () =>
    factory({
      locateFile: (file: string, prefix: string) =>
        file.endsWith('.worker.js') ? worker : file.endsWith('.wasm') ? binary : prefix + file,
      mainScriptUrlOrBlob: mainScript,
    }),
  );
  const wrap = (name: string, returns: string | null, args: string[]) => module.cwrap(name, returns, args);
  module.tfjs = {
    init: wrap('init', null, []),
    initWithThreadsCount: wrap('init_with_threads_count', null, ['number']),
    getThreadsCount: wrap('get_threads_count', 'number', []),
    registerTensor: wrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: wrap('dispose_data', null, ['number']),
    dispose: wrap('dispose', null, []),
  };
  setThreadsCount(threads);
  const backend = new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]);
  for (const w of module.PThread.runningWorkers) w.unref();
  return backend;
}

/** The wasm engine's thread count once initialised (tfjs's own count, 1 for the one-thread build). */
export function wasmThreadsInUse(): number {
  const backend = tf.findBackend('wasm') as BackendWasm | null;
  return backend === null ? 0 : backendThreads(backend);
}

type BackendFactory = NonNullable<ReturnType<typeof tf.findBackendFactory>>;

// The package registers its factory at priority 2; the replacement keeps it.
const WASM_PRIORITY = 2;
let packagedFactory: BackendFactory | undefined;
let registered: number | undefined;

/**
 * Makes the next initialisation of the 'wasm' backend use `threads` threads (the threaded SIMD
 * build for more than one, the package's own one-thread factory for one). Has no effect once the
 * backend is initialised in this thread: a thread's engine keeps the threads it started with.
 * `threads` is valid (1-8): initBackend checks its option, and the defaults are in range.
 */
export function prepareWasmThreads(threads: number): void {
  if (tf.findBackend('wasm') !== null || registered === threads) return;
  if (packagedFactory === undefined) {
    const factory = tf.findBackendFactory('wasm');
    if (factory === null)
      throw new Error('wasm backend: @tensorflow/tfjs-backend-wasm registered no factory');
    packagedFactory = factory;
  }
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    threads === 1 ? packagedFactory : () => createThreadedBackend(threads),
    WASM_PRIORITY,
  );
  registered = threads;
}
