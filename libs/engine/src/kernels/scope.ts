// Backend-level plumbing for kernels composed of other wasm kernels. A composed kernel calls the
// registered kernel functions directly (not through the engine), so its intermediates are
// invisible to tf.tidy and the tape; KernelScope frees them itself, which is how tfjs backends
// compose their own kernels.
import {
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const WASM = 'wasm';

/**
 * The package's own kernel, which a replacement keeps for the cases it leaves to it: taken over by
 * `adopt` (registerWasmTrainingKernels calls each replacement's adopt function with the package's
 * config before the replacement takes its place).
 */
export class PackagedKernel {
  private kernelFunc: KernelFunc | undefined;

  constructor(private readonly name: string) {}

  /**
   * Keeps the package's kernel function. With `replacement`, its setup function (binding the C++
   * entry point) moves to the replacement's config: the backend runs the setup of whatever is
   * registered when it initialises.
   */
  adopt(packaged: KernelConfig, replacement?: KernelConfig): void {
    this.kernelFunc = packaged.kernelFunc;
    if (replacement !== undefined) replacement.setupFunc = packaged.setupFunc;
  }

  /** The package's kernel function; throws if none was adopted. */
  func(): KernelFunc {
    if (this.kernelFunc === undefined) {
      throw new Error(
        `${this.name} (wasm): the wasm backend's own kernel was not registered before this one`,
      );
    }
    return this.kernelFunc;
  }

  /** Runs the package's kernel on a replacement's arguments. */
  run(args: unknown): TensorInfo {
    return this.func()(args as Parameters<KernelFunc>[0]) as TensorInfo;
  }
}

type Pair = [number, number];

/** Runs wasm kernels on one backend and disposes every result it produced but the one kept. */
export class KernelScope {
  private readonly owned: TensorInfo[] = [];

  constructor(readonly backend: KernelBackend) {}

  run(kernelName: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: object = {}): TensorInfo {
    const kernel = getKernel(kernelName, WASM);
    if (kernel === undefined) {
      throw new Error(`wasm training kernels: the wasm backend has no '${kernelName}' kernel to build on`);
    }
    return this.runFunc(kernel.kernelFunc, kernelName, inputs, attrs);
  }

  /** Runs a given kernel function (one that is not, or no longer, in the registry). */
  runFunc(
    kernelFunc: KernelFunc,
    kernelName: string,
    inputs: Record<string, TensorInfo> | TensorInfo[],
    attrs: object,
  ): TensorInfo {
    // Concat and Pack take their inputs as an array; the registry's type only knows the map form.
    const out = kernelFunc({
      inputs: inputs as Record<string, TensorInfo>,
      backend: this.backend,
      attrs: attrs as NamedAttrMap,
    });
    if (Array.isArray(out))
      throw new Error(`wasm training kernels: '${kernelName}' returned several outputs`);
    this.owned.push(out);
    return out;
  }

  /** Disposes everything this scope produced except `result`, which is returned to the engine. */
  finish(output: TensorInfo): TensorInfo {
    return this.finishAll([output])[0];
  }

  /** `finish` for a kernel with several outputs. */
  finishAll(outputs: readonly TensorInfo[]): TensorInfo[] {
    // The engine takes ownership of what a kernel returns, so an input passed through untouched
    // (or an output returned twice) needs a reference of its own (Identity).
    const results: TensorInfo[] = [];
    for (const output of outputs) {
      const own = this.owned.includes(output) && !results.includes(output);
      results.push(own ? output : this.run('Identity', { x: output }));
    }
    for (const t of this.owned) {
      if (!results.includes(t)) this.backend.disposeData(t.dataId);
    }
    this.owned.length = 0;
    return results;
  }

  /** A point in this scope's history, for `sweep`. */
  mark(): number {
    return this.owned.length;
  }

  /** Frees what was made since `mark` except `keep`: bounds the memory of a loop of kernels. */
  sweep(mark: number, keep: TensorInfo[]): void {
    const made = this.owned.splice(mark);
    for (const t of made) {
      if (keep.includes(t)) this.owned.push(t);
      else this.backend.disposeData(t.dataId);
    }
  }

  /** Frees everything (the error path). */
  abandon(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  pad(x: TensorInfo, paddings: Pair[]): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run('Reverse', { x }, { dims });
  }

  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  fill(shape: number[], value: number): TensorInfo {
    return this.run('Fill', {}, { shape, value, dtype: 'float32' });
  }

  /** Convolution with explicit non-negative padding and unit stride: XNNPACK does the work. */
  conv2d(x: TensorInfo, filter: TensorInfo, pads: [Pair, Pair], dilations: Pair): TensorInfo {
    return this.run(
      'Conv2D',
      { x, filter },
      { strides: [1, 1], pad: [[0, 0], pads[0], pads[1], [0, 0]], dataFormat: 'NHWC', dilations },
    );
  }

  depthwiseConv2d(
    x: TensorInfo,
    filter: TensorInfo,
    pads: [Pair, Pair],
    dilations: Pair,
    strides: Pair = [1, 1],
  ): TensorInfo {
    return this.run(
      'DepthwiseConv2dNative',
      { x, filter },
      { strides, pad: [[0, 0], pads[0], pads[1], [0, 0]], dilations },
    );
  }

  /**
   * Spreads an NHWC gradient onto the stride grid: element (i, j) moves to (i*sh, j*sw) and the
   * gaps are zero. The result is [N, Ho*sh, Wo*sw, C] (s-1 trailing zero rows and columns), made
   * with a reshape and one pad so that no element is touched in JavaScript.
   */
  zeroInsert(dy: TensorInfo, sh: number, sw: number): TensorInfo {
    if (sh === 1 && sw === 1) return dy;
    const [n, h, w, c] = dy.shape;
    const spread = this.pad(this.reshape(dy, [n, h, 1, w, 1, c]), [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    return this.reshape(spread, [n, h * sh, w * sw, c]);
  }
}

/**
 * Runs `body` in a fresh scope: the tensor it returns goes to the engine, every other tensor it
 * made is freed, on success and on error alike.
 */
export function composed(backend: KernelBackend, body: (scope: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend);
  let result: TensorInfo;
  try {
    result = body(scope);
  } catch (err) {
    scope.abandon();
    throw err;
  }
  return scope.finish(result);
}

/** `composed` for a kernel with several outputs. */
export function composedAll(
  backend: KernelBackend,
  body: (scope: KernelScope) => TensorInfo[],
): TensorInfo[] {
  const scope = new KernelScope(backend);
  let results: TensorInfo[];
  try {
    results = body(scope);
  } catch (err) {
    scope.abandon();
    throw err;
  }
  return scope.finishAll(results);
}

/** A float32 tensor of zeros, for gradients of empty inputs (XNNPACK rejects empty operands). */
export function zerosOutput(backend: KernelBackend, shape: number[]): TensorInfo {
  return composed(backend, (scope) => scope.fill(shape, 0));
}

export function isEmpty(...tensors: TensorInfo[]): boolean {
  return tensors.some((t) => util.sizeFromShape(t.shape) === 0);
}

export function assertFloat32(kernelName: string, inputs: Record<string, TensorInfo>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t.dtype !== 'float32') {
      throw new Error(`${kernelName} (wasm): input '${name}' must be float32, got ${t.dtype}`);
    }
  }
}

export function assertRank4(kernelName: string, name: string, shape: readonly number[]): void {
  if (shape.length !== 4) {
    throw new Error(`${kernelName} (wasm): ${name} must be rank 4 (NHWC), got shape [${shape.join(', ')}]`);
  }
}

export function assertUnitDilations(kernelName: string, dilations: number | number[] | undefined): void {
  const d = dilations ?? 1;
  const [dh, dw] = typeof d === 'number' ? [d, d] : d;
  if (dh !== 1 || dw !== 1) {
    throw new Error(`${kernelName} (wasm): dilations must be 1 for the gradient kernels, got [${dh}, ${dw}]`);
  }
}

/**
 * Byte addresses of tensors on the wasm heap, for the SIMD kernels. Read them after the last
 * allocation a kernel makes: growing the heap detaches earlier views.
 */
export function heapAddresses(backend: BackendWasm, ...tensors: TensorInfo[]): number[] {
  return tensors.map((t) => backend.typedArrayFromHeap(t).byteOffset);
}
