import { tf } from './tf';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { initBackend, parseBackendName, type ModuleLoader } from './backend';
import { registerWasmTrainingKernels } from './kernels';

// The wasm training kernels are a colleague's module with its own tests; here we only check
// that selection registers them when (and only when) wasm is tried.
jest.mock('./kernels', () => ({ registerWasmTrainingKernels: jest.fn() }));
const registerKernels = registerWasmTrainingKernels as jest.MockedFunction<
  typeof registerWasmTrainingKernels
>;

const NATIVE_TF = 'tensorflow';
// Silences the cpu backend's one-time "install tfjs-node" advice, which is noise here.
tf.env().set('IS_TEST', true);

function notInstalled(name: string): Error {
  return Object.assign(new Error(`Cannot find module '${name}'\nRequire stack:\n- backend.ts`), {
    code: 'MODULE_NOT_FOUND',
  });
}

const nothingInstalled: ModuleLoader = (name) => {
  throw notInstalled(name);
};

/** A stand-in for @tensorflow/tfjs-node: loading it registers a 'tensorflow' backend (cpu kernels). */
function fakeNativeLoader(installed: string): ModuleLoader & jest.Mock {
  return jest.fn((name: string) => {
    if (name !== installed) throw notInstalled(name);
    if (!tf.findBackendFactory(NATIVE_TF)) {
      tf.registerBackend(NATIVE_TF, () => new MathBackendCPU());
      for (const kernel of tf.getKernelsForBackend('cpu')) {
        tf.registerKernel({ ...kernel, backendName: NATIVE_TF });
      }
    }
    return {};
  });
}

const savedEnv = process.env.RNAS_BACKEND;

afterEach(async () => {
  if (savedEnv === undefined) delete process.env.RNAS_BACKEND;
  else process.env.RNAS_BACKEND = savedEnv;
  registerKernels.mockClear();
  await tf.setBackend('cpu');
  if (tf.findBackendFactory(NATIVE_TF)) {
    for (const kernel of tf.getKernelsForBackend(NATIVE_TF))
      tf.unregisterKernel(kernel.kernelName, NATIVE_TF);
    tf.removeBackend(NATIVE_TF);
  }
});

describe('parseBackendName', () => {
  it('accepts every documented name and trims whitespace', () => {
    for (const name of ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']) {
      expect(parseBackendName(name)).toBe(name);
    }
    expect(parseBackendName(' cpu\n')).toBe('cpu');
  });

  it.each(['', 'gpu', 'webgl', 'CPU', 'auto,cpu', '__proto__'])('rejects %j naming RNAS_BACKEND', (value) => {
    expect(() => parseBackendName(value)).toThrow(/RNAS_BACKEND/);
    expect(() => parseBackendName(value)).toThrow(JSON.stringify(value));
  });
});

describe('initBackend', () => {
  it('rejects an invalid RNAS_BACKEND with the variable and the value in the message', async () => {
    process.env.RNAS_BACKEND = 'tpu';
    await expect(initBackend()).rejects.toThrow('RNAS_BACKEND: unknown backend "tpu"');
  });

  it('reads RNAS_BACKEND when no backend is passed', async () => {
    process.env.RNAS_BACKEND = 'cpu';
    const info = await initBackend(undefined, { loadModule: nothingInstalled });
    expect(info).toEqual({
      name: 'cpu',
      tfBackend: 'cpu',
      requested: 'cpu',
      detail: 'cpu requested',
      threads: 1,
    });
    expect(tf.getBackend()).toBe('cpu');
    expect(registerKernels).not.toHaveBeenCalled();
  });

  it('defaults to auto, which falls back to wasm without the native packages and says why', async () => {
    delete process.env.RNAS_BACKEND;
    const info = await initBackend(undefined, { loadModule: nothingInstalled });
    expect(info.requested).toBe('auto');
    expect(info.name).toBe('wasm');
    expect(info.tfBackend).toBe('wasm');
    expect(info.detail).toMatch(
      /^@tensorflow\/tfjs-node-gpu not installed; @tensorflow\/tfjs-node not installed; wasm initialised \(\d threads?\)$/,
    );
    expect(info.detail).toContain(`(${info.threads} thread`);
    expect(registerKernels).toHaveBeenCalledTimes(1);
    const before = tf.memory().numTensors;
    const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])));
    expect(Array.from(await sum.data())).toEqual([4, 6]);
    sum.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('loads the native packages with a real run-time require (absent here unless installed)', async () => {
    const installed = (name: string): boolean => {
      try {
        require.resolve(name);
        return true;
      } catch {
        return false;
      }
    };
    const info = await initBackend('auto');
    if (installed('@tensorflow/tfjs-node-gpu') || installed('@tensorflow/tfjs-node')) {
      expect(info.name).toMatch(/^tensorflow/);
    } else {
      expect(info.name).toBe('wasm');
      expect(info.detail).toContain('@tensorflow/tfjs-node-gpu not installed');
      expect(info.detail).toContain('@tensorflow/tfjs-node not installed');
    }
  });

  it.each([
    ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
    ['tensorflow', '@tensorflow/tfjs-node'],
  ] as const)('fails clearly when %s is requested but %s is absent', async (name, pkg) => {
    const err = initBackend(name, { loadModule: nothingInstalled });
    await expect(err).rejects.toThrow(`RNAS_BACKEND=${name}: ${pkg} not installed`);
    await expect(initBackend(name, { loadModule: nothingInstalled })).rejects.toThrow(
      `npm install -w @rnas/engine ${pkg}@${tf.version_core}`,
    );
  });

  it('picks tfjs-node in auto when only it is installed, and computes on it', async () => {
    const loader = fakeNativeLoader('@tensorflow/tfjs-node');
    const info = await initBackend('auto', { loadModule: loader });
    expect(info).toEqual({
      name: 'tensorflow',
      tfBackend: 'tensorflow',
      requested: 'auto',
      detail: '@tensorflow/tfjs-node-gpu not installed; @tensorflow/tfjs-node loaded',
      threads: 1,
    });
    expect(loader.mock.calls.map((c) => c[0])).toEqual([
      '@tensorflow/tfjs-node-gpu',
      '@tensorflow/tfjs-node',
    ]);
    expect(registerKernels).not.toHaveBeenCalled();
    const product = tf.tidy(() => tf.mul(tf.scalar(3), tf.scalar(4)));
    expect(await product.data()).toEqual(new Float32Array([12]));
    product.dispose();
  });

  it('prefers tfjs-node-gpu in auto, and loads it on explicit request', async () => {
    const loader = fakeNativeLoader('@tensorflow/tfjs-node-gpu');
    const auto = await initBackend('auto', { loadModule: loader });
    expect(auto.name).toBe('tensorflow-gpu');
    expect(auto.detail).toBe('@tensorflow/tfjs-node-gpu loaded');
    expect(loader).toHaveBeenCalledTimes(1);
    const explicit = await initBackend('tensorflow-gpu', { loadModule: loader });
    expect(explicit).toEqual({
      name: 'tensorflow-gpu',
      tfBackend: 'tensorflow',
      requested: 'tensorflow-gpu',
      detail: '@tensorflow/tfjs-node-gpu loaded',
      threads: 1,
    });
  });

  it('falls through a native package that is installed but broken, and reports the cause', async () => {
    const broken: ModuleLoader = (name) => {
      if (name === '@tensorflow/tfjs-node-gpu')
        throw new Error('libcudart.so.11.0: cannot open shared object file');
      throw notInstalled(name);
    };
    const info = await initBackend('auto', { loadModule: broken });
    expect(info.name).toBe('wasm');
    expect(info.detail).toContain('@tensorflow/tfjs-node-gpu failed to load: libcudart.so.11.0');
    await expect(initBackend('tensorflow-gpu', { loadModule: broken })).rejects.toThrow(
      'RNAS_BACKEND=tensorflow-gpu: @tensorflow/tfjs-node-gpu failed to load: libcudart.so.11.0',
    );
  });

  it('treats a missing dependency of an installed native package as broken, not absent', async () => {
    const missingDep: ModuleLoader = (name) => {
      if (name === '@tensorflow/tfjs-node') throw notInstalled('../lib/napi-v8/tfjs_binding.node');
      throw notInstalled(name);
    };
    const info = await initBackend('auto', { loadModule: missingDep });
    expect(info.detail).toContain("@tensorflow/tfjs-node failed to load: Cannot find module '../lib/napi-v8");
  });

  it('reports a native package that registers no backend', async () => {
    const empty: ModuleLoader = (name) => {
      if (name === '@tensorflow/tfjs-node') return {};
      throw notInstalled(name);
    };
    const info = await initBackend('auto', { loadModule: empty });
    expect(info.name).toBe('wasm');
    expect(info.detail).toContain("@tensorflow/tfjs-node loaded but registered no 'tensorflow' backend");
  });

  it('falls back to cpu in auto when wasm fails to initialise, and fails clearly when wasm was asked for', async () => {
    // Swap the wasm backend for one whose initialisation fails, then put the real one back.
    const wasmFactory = tf.findBackendFactory('wasm')!;
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => Promise.reject(new Error('no WebAssembly here')), 2);
    try {
      const info = await initBackend('auto', { loadModule: nothingInstalled });
      expect(info.name).toBe('cpu');
      expect(info.tfBackend).toBe('cpu');
      expect(info.detail).toBe(
        '@tensorflow/tfjs-node-gpu not installed; @tensorflow/tfjs-node not installed; ' +
          'wasm backend failed to initialise; cpu initialised',
      );
      await expect(initBackend('wasm', { loadModule: nothingInstalled })).rejects.toThrow(
        'wasm backend failed to initialise',
      );
    } finally {
      tf.removeBackend('wasm');
      tf.registerBackend('wasm', wasmFactory, 2);
    }
    expect((await initBackend('wasm', { loadModule: nothingInstalled })).tfBackend).toBe('wasm');
  });

  it('is idempotent: a second call returns the same answer without re-initialising', async () => {
    const loader = jest.fn(nothingInstalled);
    const first = await initBackend('wasm', { loadModule: loader });
    const second = await initBackend('wasm', { loadModule: loader });
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
    expect(registerKernels).toHaveBeenCalledTimes(1);
    expect(loader).not.toHaveBeenCalled();
    expect(tf.getBackend()).toBe('wasm');
  });

  it('switches when asked for another backend, or when the active one was changed behind its back', async () => {
    expect((await initBackend('wasm', { loadModule: nothingInstalled })).tfBackend).toBe('wasm');
    expect((await initBackend('cpu', { loadModule: nothingInstalled })).tfBackend).toBe('cpu');
    await tf.setBackend('cpu');
    expect((await initBackend('wasm', { loadModule: nothingInstalled })).tfBackend).toBe('wasm');
    await tf.setBackend('cpu');
    const again = await initBackend('wasm', { loadModule: nothingInstalled });
    expect(again.tfBackend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});
