// DepthwiseConv2dNativeBackpropFilter for the wasm backend, which has none.
// dW[ky, kx, c, q] = sum over n, oh, ow of xpad[n, oh*s + ky*d, ow*s + kx*d, c] * dy[n, oh, ow, c*m + q]
// (m the channel multiplier, d the dilation: 1, or any with multiplier 1 and the SIMD kernels;
// tfjs's cpu kernel ignores it).
//
// With multiplier 1 (DARTS) each tap is a dot product per channel of a strided row of x and a row
// of dy, which the SIMD kernel of simd.ts sums four channels at a time: 5-8x faster than the
// composed formulation below (1.5-4 ms at [64, 32, 32, 16] 3x3).
//
// Otherwise, folding the batch into the channels makes it one depthwise convolution: the image is
// x as [1, H, W, N*C], the filter is dy as [Ho, Wo, N*C, m] dilated by the stride, the result
// [1, kh, kw, N*C*m] is summed over the batch. XNNPACK runs such a large filter as one small matrix
// product per channel; measured at DARTS sizes it still beats per-tap products and sums 2.5-50x.
import {
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DEPTHWISE_FILTER, depthwiseArgs } from './gemm';
import { runSplit } from './kernel-threads';
import { assertDyShape, type ConvGeometry, convGeometry, filterGradPads } from './geometry';
import {
  assertFloat32,
  assertRank4,
  assertUnitDilations,
  composed,
  isEmpty,
  WASM,
  zerosOutput,
} from './scope';
import { simdKernels } from './simd';

const NAME = DepthwiseConv2dNativeBackpropFilter;

function depthwiseConv2dNativeBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: KernelBackend;
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, pad, dilations, dimRoundingMode, filterShape } = attrs;
  assertFloat32(NAME, { x, dy });
  assertRank4(NAME, 'x', x.shape);
  const [kh, kw, c, mult] = filterShape;
  const simd = mult === 1 && simdKernels(backend as BackendWasm) !== null;
  // The SIMD route reads each tap where it lands, dilated or not; the composed one assumes 1.
  if (!simd) assertUnitDilations(NAME, dilations);
  const g = convGeometry(NAME, x.shape, filterShape, strides, pad, dimRoundingMode, true, dilations ?? 1);
  assertDyShape(NAME, dy, g);
  if (isEmpty(x, dy)) return zerosOutput(backend, [...filterShape]);
  const n = g.batch;
  if (simd) return bySimd(backend as BackendWasm, x, dy, g, [kh, kw, c, mult]);

  return composed(backend, (s) => {
    const rows = filterGradPads(kh, g.strideHeight, g.top, g.inHeight, g.outHeight);
    const cols = filterGradPads(kw, g.strideWidth, g.left, g.inWidth, g.outWidth);
    const image = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, g.inHeight, g.inWidth, n * c]);
    const kernel = s.pad(s.reshape(s.transpose(dy, [1, 2, 0, 3]), [g.outHeight, g.outWidth, n * c, mult]), [
      [0, rows.dyRows],
      [0, cols.dyRows],
      [0, 0],
      [0, 0],
    ]);
    const perImage = s.depthwiseConv2d(
      image,
      kernel,
      [rows.conv, cols.conv],
      [g.strideHeight, g.strideWidth],
    );
    if (n === 1) return s.reshape(perImage, [kh, kw, c, mult]);
    const summed = s.sum(s.reshape(perImage, [kh, kw, n, c * mult]), [2]);
    return s.reshape(summed, [kh, kw, c, mult]);
  });
}

/**
 * One `mac` call per (image, output row, tap): the output row's dy against the input row the tap
 * reads, over the output columns whose tap lands inside the input (padding contributes nothing).
 * The images are shared among the kernel threads (gemm.ts's depthwiseFilterImages), each summed
 * into sums of its own; those are added up here in image order, whatever the threads.
 */
function bySimd(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
  filterShape: number[],
): TensorInfo {
  const [kh, kw, c] = filterShape;
  const { batch: n, inHeight: h, inWidth: w, outHeight: ho, outWidth: wo } = g;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, top, left } = g;
  const size = kh * kw * c;
  const out = backend.makeOutput(filterShape, 'float32');
  const images = backend.makeOutput([n, size], 'float32');
  try {
    // Views are taken after the outputs exist: allocating can grow the heap and detach older ones.
    const perImage = backend.typedArrayFromHeap(images) as Float32Array;
    perImage.fill(0);
    const args = depthwiseArgs({
      x: backend.typedArrayFromHeap(x).byteOffset,
      y: backend.typedArrayFromHeap(dy).byteOffset,
      out: perImage.byteOffset,
      ...{ n, h, w, ho, wo, c, sh, sw, dh, dw, top, left, kh, kw },
    });
    runSplit(backend, DEPTHWISE_FILTER, args, n, 1, n * ho * wo * size);
    const acc = backend.typedArrayFromHeap(out) as Float32Array;
    acc.set(perImage.subarray(0, size));
    for (let b = 1; b < n; b++) {
      const row = b * size;
      for (let i = 0; i < size; i++) acc[i] = Math.fround(acc[i] + perImage[row + i]);
    }
  } finally {
    backend.disposeData(images.dataId);
  }
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as KernelFunc,
};
