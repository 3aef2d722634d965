// BatchMatMul for the wasm backend. The package runs XNNPACK only when neither operand is
// transposed and both batches are 1; anything else falls to a scalar C++ loop. Every matMul
// gradient is transposed (da = dy b^T, db = a^T dy), and at DARTS sizes (65536x16 by 16x16) that
// loop takes 33-41 ms. A batch of `a` against a single `b` is one product of [batch*M, K] by [K, N].
//
// Products whose columns come in fours (every 1x1 convolution of the networks, forward and both
// gradients) run on the SIMD kernels of simd.ts, split by output rows among the engine's threads
// (kernel-threads.ts): a b and a b^T (b^T is a small weight, transposed first) by gemmNN; a^T b
// with its long inner axis (a 1x1 convolution's weight gradient: pixels by channels, twice) by
// gemmTN, which reads both operands where they are. With relaxed SIMD's fused multiply-add they
// run 1.07-1.23x the package's XNNPACK product on 2 threads at DARTS sizes (a b), and a^T b
// 1.5-2.6x its transposed-copy route. Other products go to the package's kernel as before.
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
import { composed, heapAddresses, PackagedKernel, WASM } from './scope';
import { NN, productArgs, TN } from './gemm';
import { runSplit } from './kernel-threads';
import { simdKernels } from './simd';

const packaged = new PackagedKernel(BatchMatMul);

/**
 * Takes over the package's kernel, which still serves the cases the fast path does not cover.
 * Its setup function (binding the C++ entry point) moves to this config: the backend runs the
 * setup of whatever is registered when it initialises.
 */
export function adoptPackagedBatchMatMul(config: KernelConfig): void {
  packaged.adopt(config, batchMatMulConfig);
}

function batchMatMul(args: {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: KernelBackend;
  attrs: BatchMatMulAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs;
  const fallback = packaged.func();
  const batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  const simple = !transposeA && !transposeB && batchA === 1;
  const usable =
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    a.shape.length >= 2 &&
    b.shape.length >= 2 &&
    batchB === 1 &&
    util.sizeFromShape(a.shape) > 0 &&
    util.sizeFromShape(b.shape) > 0;
  if (!usable) return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;

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
  const outShape = [...outer, m, n];
  const wasm = backend as BackendWasm;
  const kernels = n % 4 === 0 ? simdKernels(wasm) : null;
  if (kernels !== null && transposeA && !transposeB && batchA === 1 && m % 4 === 0) {
    return transposedProduct(wasm, a, b, outShape);
  }
  if (simple && kernels === null) return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  return composed(backend, (s) => {
    const a3 = s.reshape(a, [batchA, ra, ca]);
    const lhs = s.reshape(transposeA ? s.transpose(a3, [0, 2, 1]) : a3, [1, batchA * m, k]);
    const b3 = s.reshape(b, [1, rb, cb]);
    const rhs = transposeB ? s.transpose(b3, [0, 2, 1]) : b3;
    const product =
      kernels !== null
        ? s.runFunc(() => product2d(wasm, lhs, rhs, [1, batchA * m, n]), BatchMatMul, {}, {})
        : s.runFunc(fallback, BatchMatMul, { a: lhs, b: rhs }, { transposeA: false, transposeB: false });
    return s.reshape(product, outShape);
  });
}

/**
 * a b for contiguous a [.., M, K] (its leading axes taken as more rows) and b [1, K, N] (N a
 * multiple of 4), with the SIMD kernels, split by rows among the engine's threads.
 */
export function product2d(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  outShape: number[],
): TensorInfo {
  const k = a.shape[a.shape.length - 1];
  const m = util.sizeFromShape(a.shape.slice(0, -1));
  const n = b.shape[b.shape.length - 1];
  const out = backend.makeOutput(outShape, 'float32');
  const [aAt, bAt, outAt] = heapAddresses(backend, a, b, out);
  runSplit(backend, NN, productArgs({ a: aAt, b: bAt, out: outAt, m, k, n }), m, 1, m * k * n);
  return out;
}

/**
 * a^T b for a [K, M] and b [K, N] (M and N multiples of 4): the kernels sum 4x8 output blocks (4x4
 * for a last odd group of four columns) over chunks of the K rows (gemm.ts, tnRows).
 */
function transposedProduct(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  outShape: number[],
): TensorInfo {
  const [k, m] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const out = backend.makeOutput(outShape, 'float32');
  backend.typedArrayFromHeap(out).fill(0);
  const [aAt, bAt, outAt] = heapAddresses(backend, a, b, out);
  runSplit(backend, TN, productArgs({ a: aAt, b: bAt, out: outAt, m, k, n }), m, 4, m * k * n);
  return out;
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: WASM,
  kernelFunc: batchMatMul as unknown as KernelFunc,
};
