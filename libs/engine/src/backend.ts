// Backend selection. The native TensorFlow packages are optional: they are loaded at run time by
// name so that neither TypeScript nor a bundler tries to resolve them, and `auto` falls back to
// the pure-JavaScript backends when they are absent.
import { createRequire } from 'node:module';
import { tf } from './tf';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './kernels';
import { defaultWasmThreads, parseWasmThreads, prepareWasmThreads, wasmThreadsInUse } from './wasm-threads';

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendInfo {
  /** The backend in use (never 'auto'). */
  name: BackendName;
  /** The tfjs backend name (`tf.getBackend()`): 'tensorflow', 'wasm' or 'cpu'. */
  tfBackend: string;
  /** What was asked for. */
  requested: BackendName;
  /** Why this backend: for 'auto', what happened to each candidate tried before it. */
  detail: string;
  /** wasm: the threads one operation runs on (RNAS_WASM_THREADS, `wasmThreads`); 1 elsewhere. */
  threads: number;
}

/** Loads a package by name; injectable so tests can play "installed" and "not installed". */
export type ModuleLoader = (packageName: string) => unknown;

export interface InitBackendOptions {
  loadModule?: ModuleLoader;
  /**
   * Threads of the wasm engine (1-8), used when wasm is initialised by this call; default
   * RNAS_WASM_THREADS, else the cores this process may use. Processes or workers that run several
   * engines side by side give each a share (see `wasmThreadsPerEngine`).
   */
  wasmThreads?: number;
}

interface NativeBackend {
  name: 'tensorflow-gpu' | 'tensorflow';
  packageName: string;
}

const NATIVE_BACKENDS: readonly NativeBackend[] = [
  { name: 'tensorflow-gpu', packageName: '@tensorflow/tfjs-node-gpu' },
  { name: 'tensorflow', packageName: '@tensorflow/tfjs-node' },
];

// Both native packages register their backend under this tfjs name.
const NATIVE_TF_BACKEND = 'tensorflow';

const requireAtRunTime: ModuleLoader = createRequire(__filename);

let current: BackendInfo | undefined;

/** Parses a backend name (from RNAS_BACKEND or a caller) with an error naming the value. */
export function parseBackendName(value: string): BackendName {
  const name = value.trim();
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new Error(
    `RNAS_BACKEND: unknown backend ${JSON.stringify(value)}; expected one of ${BACKEND_NAMES.join(', ')}`,
  );
}

class NativeUnavailable extends Error {}

function isMissingModule(err: unknown, packageName: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    e !== null &&
    typeof e === 'object' &&
    e.code === 'MODULE_NOT_FOUND' &&
    typeof e.message === 'string' &&
    e.message.includes(`'${packageName}'`)
  );
}

function installHint(native: NativeBackend): string {
  return (
    `install it with \`npm install -w @rnas/engine ${native.packageName}@${tf.version_core}\` ` +
    `(optional, not a dependency of this project), or set RNAS_BACKEND=auto|wasm|cpu`
  );
}

async function tryNative(native: NativeBackend, loadModule: ModuleLoader): Promise<void> {
  try {
    loadModule(native.packageName);
  } catch (err) {
    if (isMissingModule(err, native.packageName)) {
      throw new NativeUnavailable(`${native.packageName} not installed`);
    }
    throw new NativeUnavailable(`${native.packageName} failed to load: ${(err as Error).message ?? err}`);
  }
  if (!tf.findBackendFactory(NATIVE_TF_BACKEND)) {
    throw new NativeUnavailable(
      `${native.packageName} loaded but registered no '${NATIVE_TF_BACKEND}' backend ` +
        `(is it built for @tensorflow/tfjs-core ${tf.version_core}?)`,
    );
  }
  if (!(await tf.setBackend(NATIVE_TF_BACKEND))) {
    throw new NativeUnavailable(`${native.packageName} loaded but its backend failed to initialise`);
  }
}

async function trySetBackend(tfName: 'wasm' | 'cpu', wasmThreads?: number): Promise<void> {
  if (tfName === 'wasm') {
    // Before `setBackend`: tfjs runs kernel setup functions when a backend initialises, so a
    // kernel registered first is ready whatever it needs.
    registerWasmTrainingKernels();
    prepareWasmThreads(wasmThreads ?? defaultWasmThreads());
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfName);
  } catch (err) {
    throw new Error(`${tfName} backend failed to initialise: ${(err as Error).message ?? err}`);
  }
  if (!ok) throw new Error(`${tfName} backend failed to initialise`);
}

async function select(
  requested: BackendName,
  loadModule: ModuleLoader,
  wasmThreads: number | undefined,
): Promise<BackendInfo> {
  const info = (name: BackendName, detail: string): BackendInfo => {
    const threads = name === 'wasm' ? wasmThreadsInUse() : 1;
    return {
      name,
      tfBackend: tf.getBackend(),
      requested,
      detail: name === 'wasm' ? `${detail} (${threads} thread${threads === 1 ? '' : 's'})` : detail,
      threads,
    };
  };
  if (requested === 'wasm' || requested === 'cpu') {
    await trySetBackend(requested, wasmThreads);
    return info(requested, `${requested} requested`);
  }
  if (requested !== 'auto') {
    const native = NATIVE_BACKENDS.find((n) => n.name === requested) as NativeBackend;
    try {
      await tryNative(native, loadModule);
    } catch (err) {
      if (err instanceof NativeUnavailable) {
        throw new Error(`RNAS_BACKEND=${requested}: ${err.message}; ${installHint(native)}`);
      }
      throw err;
    }
    return info(requested, `${native.packageName} loaded`);
  }
  const skipped: string[] = [];
  for (const native of NATIVE_BACKENDS) {
    try {
      await tryNative(native, loadModule);
      return info(native.name, [...skipped, `${native.packageName} loaded`].join('; '));
    } catch (err) {
      if (!(err instanceof NativeUnavailable)) throw err;
      skipped.push(err.message);
    }
  }
  try {
    await trySetBackend('wasm', wasmThreads);
    return info('wasm', [...skipped, 'wasm initialised'].join('; '));
  } catch (err) {
    skipped.push((err as Error).message);
  }
  await trySetBackend('cpu');
  return info('cpu', [...skipped, 'cpu initialised'].join('; '));
}

/**
 * Selects the TensorFlow.js backend: `requested`, else RNAS_BACKEND, else 'auto' (tfjs-node-gpu,
 * tfjs-node, wasm, cpu, the first that works). Calling it again with the same request while that
 * backend is still active returns the same answer without re-initialising anything.
 */
export async function initBackend(
  requested?: BackendName,
  options: InitBackendOptions = {},
): Promise<BackendInfo> {
  const name = parseBackendName(requested ?? process.env.RNAS_BACKEND ?? 'auto');
  if (current && current.requested === name && tf.getBackend() === current.tfBackend) {
    return { ...current };
  }
  if (options.wasmThreads !== undefined) parseWasmThreads(String(options.wasmThreads), 'wasmThreads');
  current = await select(name, options.loadModule ?? requireAtRunTime, options.wasmThreads);
  await tf.ready();
  return { ...current };
}
