// Conv2DBackpropFilter for the wasm backend, which has none. The filter gradient
// dW[ky, kx, ci, co] = sum over n, oh, ow of xpad[n, oh*s + ky, ow*s + kx, ci] * dy[n, oh, ow, co]
// is itself a convolution: with channels-in as the batch and the batch as channels
// (x -> [Ci, H, W, N]) and dy as the filter ([Ho, Wo, N, Co], dilated by the stride), one XNNPACK
// Conv2D yields [Ci, kh, kw, Co]. A 1x1 unit-stride unpadded filter is a plain matrix product.
// Measured at DARTS sizes against per-tap slices + BatchMatMul: the slices (wasm Slice and
// StridedSlice) are JavaScript or scalar copies and made that 1.7-40x slower.
import {
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CONV_FILTER, convFilterArgs } from './gemm';
import { assertDyShape, type ConvGeometry, convGeometry, filterGradPads } from './geometry';
import { runSplit } from './kernel-threads';
import {
  assertFloat32,
  assertRank4,
  composed,
  heapAddresses,
  isEmpty,
  type KernelScope,
  WASM,
  zerosOutput,
} from './scope';
import { simdKernels } from './simd';

function conv2DBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: KernelBackend;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  assertFloat32(Conv2DBackpropFilter, { x, dy });
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${Conv2DBackpropFilter} (wasm): dataFormat must be 'NHWC', got '${dataFormat}'`);
  }
  assertRank4(Conv2DBackpropFilter, 'x', x.shape);
  const g = convGeometry(Conv2DBackpropFilter, x.shape, filterShape, strides, pad, dimRoundingMode, false);
  assertDyShape(Conv2DBackpropFilter, dy, g);
  if (isEmpty(x, dy)) return zerosOutput(backend, [...filterShape]);
  const [kh, kw, ci, co] = filterShape;
  const m = g.batch * g.outHeight * g.outWidth;

  return composed(backend, (s) => {
    const unitStride = g.strideHeight === 1 && g.strideWidth === 1;
    if (kh === 1 && kw === 1 && unitStride && g.outHeight === g.inHeight && g.outWidth === g.inWidth) {
      // [Ci, M] x [M, Co]: XNNPACK's fully-connected path needs neither operand transposed.
      const xt = s.reshape(s.transpose(x, [3, 0, 1, 2]), [1, ci, m]);
      const prod = s.run(
        'BatchMatMul',
        { a: xt, b: s.reshape(dy, [1, m, co]) },
        { transposeA: false, transposeB: false },
      );
      return s.reshape(prod, [kh, kw, ci, co]);
    }
    const kernels = co % 4 === 0 && ci <= MAX_SIMD_CHANNELS_IN ? simdKernels(backend as BackendWasm) : null;
    if (kernels !== null) return bySimd(s, backend as BackendWasm, x, dy, g, [kh, kw, ci, co]);
    const rows = filterGradPads(kh, g.strideHeight, g.top, g.inHeight, g.outHeight);
    const cols = filterGradPads(kw, g.strideWidth, g.left, g.inWidth, g.outWidth);
    const image = s.transpose(x, [3, 1, 2, 0]);
    const kernel = s.pad(s.transpose(dy, [1, 2, 0, 3]), [
      [0, rows.dyRows],
      [0, cols.dyRows],
      [0, 0],
      [0, 0],
    ]);
    const grad = s.conv2d(image, kernel, [rows.conv, cols.conv], [g.strideHeight, g.strideWidth]);
    return s.transpose(grad, [1, 2, 0, 3]);
  });
}

/**
 * Input channels up to which the SIMD route runs (one gemmTN call per image row, tap, 4 input and
 * 8 output channels: the calls grow with the channels). The stem (3 channels) is what takes it:
 * as one XNNPACK convolution with a 32x32 "filter" its gradient took 48 ms of a search-network
 * step at batch 64.
 */
const MAX_SIMD_CHANNELS_IN = 16;

/**
 * The filter gradient by the SIMD products (gemm.ts, convFilterTaps), the taps split among the
 * kernel threads. Input channels are padded to a multiple of 4 (the blocks' rows) and the padded
 * rows of the gradient dropped.
 */
function bySimd(
  s: KernelScope,
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
  filterShape: [number, number, number, number],
): TensorInfo {
  const [kh, kw, ci, co] = filterShape;
  const ci4 = Math.ceil(ci / 4) * 4;
  const input =
    ci4 === ci
      ? x
      : s.pad(x, [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, ci4 - ci],
        ]);
  const acc = s.fill([kh, kw, ci4, co], 0);
  const [xAt, dyAt, accAt] = heapAddresses(backend, input, dy, acc);
  const args = convFilterArgs({
    x: xAt,
    dy: dyAt,
    acc: accAt,
    n: g.batch,
    h: g.inHeight,
    w: g.inWidth,
    ho: g.outHeight,
    wo: g.outWidth,
    ci: ci4,
    co,
    sh: g.strideHeight,
    sw: g.strideWidth,
    top: g.top,
    left: g.left,
    kh,
    kw,
  });
  const work = g.batch * g.outHeight * g.outWidth * kh * kw * ci4 * co;
  runSplit(backend, CONV_FILTER, args, kh * kw, 1, work);
  if (ci4 === ci) return acc;
  return s.run('Slice', { x: acc }, { begin: [0, 0, 0, 0], size: [kh, kw, ci, co] });
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: WASM,
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
