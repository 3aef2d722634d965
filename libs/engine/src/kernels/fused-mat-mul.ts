// _FusedMatMul (a product with a bias and an activation: the inference path's folded 1x1
// convolutions, layers.ts) for the wasm backend. The package runs XNNPACK's fully-connected
// operator; the SIMD kernels of simd.ts (gemmNNFused: the bias added and the ReLU applied as each
// output block is stored) run 1.1-1.7x faster at DARTS sizes, split by output rows among the
// engine's threads like BatchMatMul. They take products whose columns come in fours, with a bias
// of one value per column (or none) and a linear or ReLU activation.
//
// The package's kernel is also wrong with a bias outside its XNNPACK path (a transposed operand,
// or a batch of b): in tfjs-backend-wasm 4.22 33 of 72 combinations differ from the cpu backend
// by up to 2.1, every one with a bias. Here such products are transposed and flattened (or taken
// one batch item at a time) into products without transposes, which both paths get right. Without
// a bias, and for other element types, the package's kernel runs as it is.
import {
  _FusedMatMul,
  type _FusedMatMulAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { product2d } from './batch-mat-mul';
import { NN_FUSED, productArgs } from './gemm';
import { runSplit } from './kernel-threads';
import { composed, heapAddresses, isEmpty, PackagedKernel, WASM } from './scope';
import { simdKernels } from './simd';

const packaged = new PackagedKernel(_FusedMatMul);

/** Takes over the package's kernel (and its setup function) for the cases this one leaves to it. */
export function adoptPackagedFusedMatMul(config: KernelConfig): void {
  packaged.adopt(config, fusedMatMulConfig);
}

type FusedInputs = { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };

function fusedMatMul(args: {
  inputs: FusedInputs;
  backend: KernelBackend;
  attrs: _FusedMatMulAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b, bias, preluActivationWeights } = inputs;
  const { transposeA, transposeB, activation } = attrs;
  const fallback = packaged.func();
  const wasm = backend as BackendWasm;
  const usable =
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    (bias === undefined || bias.dtype === 'float32') &&
    a.shape.length === 3 &&
    b.shape.length === 3 &&
    !isEmpty(a, b);
  if (!usable) return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  const n = transposeB ? b.shape[1] : b.shape[2];
  const kernels = simdKernels(wasm);
  const simd =
    kernels !== null &&
    n % 4 === 0 &&
    preluActivationWeights === undefined &&
    (activation === 'linear' || activation === 'relu') &&
    (bias === undefined || util.sizeFromShape(bias.shape) === n);
  const relu = activation === 'relu';
  if (simd && !transposeA && !transposeB && b.shape[0] === 1) return product(wasm, a, b, bias, relu);
  // Without a bias the package's kernel is right; with one, only on its XNNPACK path.
  if (bias === undefined) return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  return composed(backend, (s) => {
    const lhs = transposeA ? s.transpose(a, [0, 2, 1]) : a;
    const rhs = transposeB ? s.transpose(b, [0, 2, 1]) : b;
    const [batchA, m, k] = lhs.shape;
    const batchB = rhs.shape[0];
    // One product of [1, rows, k] by [1, k, n] on our kernels or the package's XNNPACK path.
    const single = (x: TensorInfo, y: TensorInfo) =>
      simd
        ? s.runFunc(() => product(wasm, x, y, bias, relu), _FusedMatMul, {}, {})
        : s.runFunc(
            fallback,
            _FusedMatMul,
            { a: x, b: y, bias, ...(preluActivationWeights ? { preluActivationWeights } : {}) },
            { ...attrs, transposeA: false, transposeB: false },
          );
    if (batchB === 1) return s.reshape(single(s.reshape(lhs, [1, batchA * m, k]), rhs), [batchA, m, n]);
    const batch = Math.max(batchA, batchB);
    const item = (x: TensorInfo, i: number, rows: number, cols: number) =>
      s.run('Slice', { x }, { begin: [x.shape[0] === 1 ? 0 : i, 0, 0], size: [1, rows, cols] });
    const parts = Array.from({ length: batch }, (_, i) => single(item(lhs, i, m, k), item(rhs, i, k, n)));
    return s.run('Concat', parts, { axis: 0 });
  });
}

/**
 * a b (+ bias, then ReLU) for a [.., m, k] and b [1, k, n] (n a multiple of 4) on the SIMD
 * kernels, split by output rows among the engine's threads.
 */
function product(
  wasm: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  bias: TensorInfo | undefined,
  relu: boolean,
): TensorInfo {
  const k = a.shape[a.shape.length - 1];
  const n = b.shape[b.shape.length - 1];
  const m = util.sizeFromShape(a.shape.slice(0, -1));
  const outShape = [...a.shape.slice(0, -1), n];
  if (bias === undefined && !relu) return product2d(wasm, a, b, outShape);
  // Without a bias, a ReLU still needs one: zeros.
  const zeros = bias === undefined ? wasm.makeOutput([n], 'float32') : null;
  if (zeros !== null) wasm.typedArrayFromHeap(zeros).fill(0);
  const out = wasm.makeOutput(outShape, 'float32');
  const [aAt, bAt, outAt, biasAt] = heapAddresses(wasm, a, b, out, bias ?? (zeros as TensorInfo));
  const operands = productArgs({ a: aAt, b: bAt, out: outAt, m, k, n });
  runSplit(wasm, NN_FUSED, [...operands, biasAt, relu ? 1 : 0], m, 1, m * k * n);
  if (zeros !== null) wasm.disposeData(zeros.dataId);
  return out;
}

export const fusedMatMulConfig: KernelConfig = {
  kernelName: _FusedMatMul,
  backendName: WASM,
  kernelFunc: fusedMatMul as unknown as KernelFunc,
};
