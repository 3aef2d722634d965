// BatchMatMul for the wasm backend. The package runs XNNPACK only when neither operand is
// transposed and both batches are 1; anything else falls to a scalar C++ loop. Every matMul
// gradient is transposed (da = dy b^T, db = a^T dy), and at DARTS sizes (65536x16 by 16x16) the
// loop takes 33-41 ms where transposing the operand first and taking the XNNPACK path takes
// 1.5-4.5 ms. A batch of `a` against a single `b` is one product of [batch*M, K] by [K, N].
//
// a^T b with a long inner axis (a 1x1 convolution's weight gradient: pixels by channels, twice)
// goes to the SIMD kernels of simd.ts when the channels allow (4 | columns of a and of b):
// it reads both operands where they are, where XNNPACK needs a transposed copy of a and a packed
// copy of b first; 1.5-2x faster at DARTS sizes.
import {
  BatchMatMul,
  type BatchMatMulAttrs,
  broadcast_util,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composed, WASM } from './scope';
import { type SimdKernels, simdKernels } from './simd';

let packaged: KernelFunc | undefined;

/**
 * Takes over the package's kernel, which still serves the cases the fast path does not cover.
 * Its setup function (binding the C++ entry point) moves to this config: the backend runs the
 * setup of whatever is registered when it initialises.
 */
export function adoptPackagedBatchMatMul(config: KernelConfig): void {
  packaged = config.kernelFunc;
  batchMatMulConfig.setupFunc = config.setupFunc;
}

function batchMatMul(args: {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: KernelBackend;
  attrs: BatchMatMulAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs;
  if (packaged === undefined) {
    throw new Error(
      `${BatchMatMul} (wasm): the wasm backend's own kernel was not registered before this one`,
    );
  }
  const fallback = packaged;
  const batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  const simple = !transposeA && !transposeB && batchA === 1;
  const fast =
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    a.shape.length >= 2 &&
    b.shape.length >= 2 &&
    batchB === 1 &&
    !simple &&
    util.sizeFromShape(a.shape) > 0 &&
    util.sizeFromShape(b.shape) > 0;
  if (!fast) return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;

  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ca, ra] : [ra, ca];
  const [kb, n] = transposeB ? [cb, rb] : [rb, cb];
  if (k !== kb) {
    throw new Error(
      `${BatchMatMul} (wasm): inner dimensions differ: a [${a.shape.join(', ')}] (transposeA ${transposeA}), ` +
        `b [${b.shape.join(', ')}] (transposeB ${transposeB})`,
    );
  }
  const outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (transposeA && !transposeB && batchA === 1 && m % 4 === 0 && n % 4 === 0) {
    const kernels = simdKernels(backend as BackendWasm);
    if (kernels !== null) return transposedProduct(backend as BackendWasm, kernels, a, b, [...outer, m, n]);
  }
  return composed(backend, (s) => {
    const a3 = s.reshape(a, [batchA, ra, ca]);
    const lhs = s.reshape(transposeA ? s.transpose(a3, [0, 2, 1]) : a3, [1, batchA * m, k]);
    const b3 = s.reshape(b, [1, rb, cb]);
    const rhs = transposeB ? s.transpose(b3, [0, 2, 1]) : b3;
    const product = s.runFunc(
      fallback,
      BatchMatMul,
      { a: lhs, b: rhs },
      { transposeA: false, transposeB: false },
    );
    return s.reshape(product, [...outer, m, n]);
  });
}

/** Rows of the inner axis per kernel call: both operands' rows stay in the cache across blocks. */
const CHUNK_BYTES = 128 * 1024;

/**
 * a^T b for a [K, M] and b [K, N] (M and N multiples of 4): the kernels sum 4x8 output blocks (4x4
 * for a last odd group of four columns) over chunks of the K rows, chunk by chunk.
 */
function transposedProduct(
  backend: BackendWasm,
  { gemmTN, gemmTN4 }: SimdKernels,
  a: TensorInfo,
  b: TensorInfo,
  outShape: number[],
): TensorInfo {
  const [k, m] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const out = backend.makeOutput(outShape, 'float32');
  // Views are taken after the output exists: allocating can grow the heap and detach older ones.
  const sums = backend.typedArrayFromHeap(out);
  sums.fill(0);
  const [aAt, bAt, outAt] = [a, b]
    .map((t) => backend.typedArrayFromHeap(t).byteOffset)
    .concat(sums.byteOffset);
  const chunk = Math.max(16, Math.floor(CHUNK_BYTES / (4 * (m + n))));
  for (let k0 = 0; k0 < k; k0 += chunk) {
    const rows = Math.min(chunk, k - k0);
    for (let i = 0; i < m; i += 4) {
      for (let j = 0; j < n; j += 8) {
        (j + 8 <= n ? gemmTN : gemmTN4)(
          aAt + 4 * (k0 * m + i),
          bAt + 4 * (k0 * n + j),
          outAt + 4 * (i * n + j),
          rows,
          4 * m,
          4 * n,
          4 * n,
        );
      }
    }
  }
  return out;
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: WASM,
  kernelFunc: batchMatMul as unknown as KernelFunc,
};
