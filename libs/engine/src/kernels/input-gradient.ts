// The input gradient of a strided, padded convolution as a unit-stride convolution: dy spread
// onto the stride grid (zeros between), padded by k-1-pad, convolved with the filter rotated by
// 180 degrees. Shared by Conv2DBackpropInput, DepthwiseConv2dNativeBackpropInput and AvgPoolGrad.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type ConvGeometry, inputGradPads } from './geometry';
import type { KernelScope } from './scope';

/**
 * `rotated` is the forward filter reversed in both spatial axes and laid out for `kind`:
 * [kh, kw, Co, Ci] for a full convolution, [kh, kw, C, 1] for a depthwise one.
 */
export function inputGradient(
  s: KernelScope,
  dy: TensorInfo,
  rotated: TensorInfo,
  g: ConvGeometry,
  kind: 'conv2d' | 'depthwiseConv2d',
): TensorInfo {
  const spread = s.zeroInsert(dy, g.strideHeight, g.strideWidth);
  const rows = inputGradPads(g.filterHeight, g.top, g.inHeight, spread.shape[1]);
  const cols = inputGradPads(g.filterWidth, g.left, g.inWidth, spread.shape[2]);
  const filter = s.pad(rotated, [rows.filter, cols.filter, [0, 0], [0, 0]]);
  return kind === 'conv2d'
    ? s.conv2d(spread, filter, [rows.conv, cols.conv], [1, 1])
    : s.depthwiseConv2d(spread, filter, [rows.conv, cols.conv], [1, 1]);
}
