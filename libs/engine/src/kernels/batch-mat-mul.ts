// BatchMatMul for the wasm backend. The package runs XNNPACK only when neither operand is
// transposed and both batches are 1; anything else falls to a scalar C++ loop. Every matMul
// gradient is transposed (da = dy b^T, db = a^T dy), and at DARTS sizes (65536x16 by 16x16) the
// loop takes 33-41 ms where transposing the operand first and taking the XNNPACK path takes
// 1.5-4.5 ms. A batch of `a` against a single `b` is one product of [batch*M, K] by [K, N].
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
import { composed, WASM } from './scope';

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

export const batchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: WASM,
  kernelFunc: batchMatMul as unknown as KernelFunc,
};
