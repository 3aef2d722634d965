// The arithmetic that turns the backward pass of a strided, padded convolution into unit-stride
// convolutions with explicit non-negative padding (what XNNPACK runs). One spatial axis at a
// time; the same rules hold for rows and columns.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';

export type Pair = [number, number];

/** The forward convolution as the gradient kernels see it (NHWC; dilation 1 unless given). */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  /** Input rows (columns) between a filter's taps: 1 unless the caller allows dilation. */
  dilationHeight: number;
  dilationWidth: number;
  /** Rows (columns) of padding before the input, as the forward pass applied them. */
  top: number;
  left: number;
}

export type PadAttr = 'valid' | 'same' | number | backend_util.ExplicitPadding;

export function convGeometry(
  kernelName: string,
  inShape: readonly number[],
  filterShape: readonly number[],
  strides: number | [number, number],
  pad: PadAttr,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
  dilations: number | [number, number] = 1,
): ConvGeometry {
  if (inShape.length !== 4) {
    throw new Error(`${kernelName} (wasm): input shape must be rank 4 (NHWC), got [${inShape.join(', ')}]`);
  }
  if (filterShape.length !== 4) {
    throw new Error(`${kernelName} (wasm): filter shape must be rank 4, got [${filterShape.join(', ')}]`);
  }
  if (inShape[3] !== filterShape[2]) {
    throw new Error(
      `${kernelName} (wasm): input channels ${inShape[3]} do not match filter shape ` +
        `[${filterShape.join(', ')}] (dimension 2)`,
    );
  }
  const info = backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    depthwise,
  );
  for (const [name, value] of [
    ['strides', info.strideHeight],
    ['strides', info.strideWidth],
    ['filter height', info.filterHeight],
    ['filter width', info.filterWidth],
    ['dilations', info.dilationHeight],
    ['dilations', info.dilationWidth],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`${kernelName} (wasm): ${name} must be positive integers, got ${value}`);
    }
  }
  const { top, left, bottom, right } = info.padInfo;
  for (const p of [top, left, bottom, right]) {
    if (!Number.isInteger(p) || p < 0) {
      throw new Error(
        `${kernelName} (wasm): padding must be non-negative integers, got ${JSON.stringify(pad)}`,
      );
    }
  }
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    top,
    left,
  };
}

/** Throws unless dy is the forward output for this geometry. */
export function assertDyShape(kernelName: string, dy: TensorInfo, g: ConvGeometry): void {
  const expected = [g.batch, g.outHeight, g.outWidth, g.outChannels];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${kernelName} (wasm): dy has shape [${dy.shape.join(', ')}] but the convolution's output ` +
        `is [${expected.join(', ')}]`,
    );
  }
}

/**
 * Input gradient along one axis. dx[h] = sum_t spread[h + t - (k-1-top)] * filter[k-1-t], with
 * `spread` the zero-inserted dy of length `spreadSize`. Returns the convolution's padding and, for
 * a side where that padding would be negative (more forward padding than k-1, or trailing zeros
 * of the spread beyond the input), zero taps to add to the rotated filter instead: prepending c
 * zero taps drops the first c rows, appending drops the last c, without copying the image.
 */
export function inputGradPads(
  k: number,
  top: number,
  inSize: number,
  spreadSize: number,
): { conv: Pair; filter: Pair } {
  const front = k - 1 - top;
  const back = inSize + top - spreadSize;
  return {
    conv: [Math.max(0, front), Math.max(0, back)],
    filter: [Math.max(0, -front), Math.max(0, -back)],
  };
}

/**
 * Filter gradient along one axis, computed as a convolution of the padded input with dy as the
 * filter dilated by the stride: dW[t] = sum_o xpad[t + o*s] * dy[o]. The trailing padding makes the
 * output exactly k taps; when the forward pass left input rows unused that padding would be
 * negative, so zero rows are appended to dy instead (each one extends the dilated filter by s).
 */
export function filterGradPads(
  k: number,
  stride: number,
  top: number,
  inSize: number,
  outSize: number,
): { conv: Pair; dyRows: number } {
  const back = k + (outSize - 1) * stride - inSize - top;
  const dyRows = back < 0 ? Math.ceil(-back / stride) : 0;
  return { conv: [top, back + dyRows * stride], dyRows };
}
