// MaxPoolGrad for the wasm backend. The package's kernel (tfjs 4.22) starts each window's
// running maximum at FLT_MIN, the smallest positive float, instead of -inf, so a window whose
// maximum is zero or negative (common after batch norm, and every all-zero window after a ReLU)
// records position 0 as its argmax and so drops its gradient; and it keeps the last of tied
// maxima where cpu keeps the first. Against cpu that is 3-50% relative error on random inputs.
// This kernel follows the cpu backend: each window's gradient goes to the first pixel, in
// row-major order over the pixels inside the input, that equals its maximum.
//
// Tap by tap (t = ky*kw + kx): a depthwise convolution with a one-hot filter gathers pixel t of
// every window; Step(max - pixel) is 0 exactly where the pixel is a maximum; `open` (1 until a
// window has routed its gradient) picks the first such tap; a pad places dy there. Comparisons
// and selects are slow generic loops on wasm (5-2000 ms for 1-9M elements), so the mask is
// built with arithmetic kernels only.
//
// The padding is -FLT_MAX so that it never wins, and infinities are clamped to +-FLT_MAX in the
// input and the pooled output alike (0 * inf would be NaN in the gathering). Only a window whose
// pixels are all -inf differs from cpu (which routes its gradient nowhere); NaN inputs lose the
// gradients of their windows.
import {
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { assertDyShape, convGeometry, type Pair } from './geometry';
import { assertFloat32, assertRank4, composed, isEmpty, WASM, zerosOutput } from './scope';

const FLT_MAX = 3.4028234663852886e38;

/**
 * Bottom padding that makes a k-tap window at stride s produce exactly `out` positions. When
 * the window needs fewer rows than the input has (rows no window reads), the filter grows by
 * zero taps instead, since padding cannot be negative.
 */
function gatherPads(
  k: number,
  s: number,
  top: number,
  size: number,
  out: number,
): { pad: Pair; extra: number } {
  const bottom = (out - 1) * s + k - size - top;
  return bottom >= 0 ? { pad: [top, bottom], extra: 0 } : { pad: [top, 0], extra: -bottom };
}

function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  backend: KernelBackend;
  attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input, output } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  assertFloat32(MaxPoolGrad, { dy, input, output });
  assertRank4(MaxPoolGrad, 'input', input.shape);
  const [kh, kw] = typeof filterSize === 'number' ? [filterSize, filterSize] : filterSize;
  const c = input.shape[3];
  const g = convGeometry(MaxPoolGrad, input.shape, [kh, kw, c, 1], strides, pad, dimRoundingMode, true);
  assertDyShape(MaxPoolGrad, dy, g);
  assertDyShape(MaxPoolGrad, output, g);
  if (isEmpty(dy, input)) return zerosOutput(backend, [...input.shape]);

  return composed(backend, (s) => {
    const rows = gatherPads(kh, g.strideHeight, g.top, g.inHeight, g.outHeight);
    const cols = gatherPads(kw, g.strideWidth, g.left, g.inWidth, g.outWidth);
    const [fh, fw] = [kh + rows.extra, kw + cols.extra];
    const finite = (t: TensorInfo) =>
      s.run('ClipByValue', { x: t }, { clipValueMin: -FLT_MAX, clipValueMax: FLT_MAX });
    const padded = s.run(
      'PadV2',
      { x: finite(input) },
      { paddings: [[0, 0], rows.pad, cols.pad, [0, 0]], constantValue: -FLT_MAX },
    );
    const pooled = finite(output);
    // One-hot [h, w, C, 1] filter at (y, x): a depthwise convolution with it picks one pixel.
    const hot = (h: number, w: number, y: number, x: number) =>
      s.pad(s.fill([1, 1, c, 1], 1), [
        [y, h - 1 - y],
        [x, w - 1 - x],
        [0, 0],
        [0, 0],
      ]);
    const { batch: n, outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = g;
    // The scatter adds tap t's gradients onto a canvas in padded-input coordinates (window o,
    // tap (ky, kx) -> canvas (o*s + ky, o'*s + kx)), with one pad each: rows of dy spaced by the
    // stride, shifted by the tap. The canvas is cropped to the input once at the end.
    const rowsCanvas = canvasBlocks(kh, sh, g.top, g.inHeight, ho);
    const colsCanvas = canvasBlocks(kw, sw, g.left, g.inWidth, wo);
    const place = (t: TensorInfo, ky: number, kx: number) => {
      const [qh, rh, qw, rw] = [Math.floor(ky / sh), ky % sh, Math.floor(kx / sw), kx % sw];
      const spread = s.pad(s.reshape(t, [n, ho, 1, wo, 1, c]), [
        [0, 0],
        [qh, rowsCanvas - ho - qh],
        [rh, sh - 1 - rh],
        [qw, colsCanvas - wo - qw],
        [rw, sw - 1 - rw],
        [0, 0],
      ]);
      return s.reshape(spread, [n, rowsCanvas * sh, colsCanvas * sw, c]);
    };
    // Each tap's tensors are freed once the next `open` and canvas exist.
    const loopStart = s.mark();
    let open = s.fill(dy.shape, 1);
    let canvas: TensorInfo | undefined;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const pixel = s.depthwiseConv2d(padded, hot(fh, fw, ky, kx), noPadding, [1, 1], [sh, sw]);
        const below = s.run('Step', { x: s.run('Sub', { a: pooled, b: pixel }) }, { alpha: 0 });
        const stillOpen = s.run('Multiply', { a: open, b: below });
        const routed = s.run('Multiply', { a: s.run('Sub', { a: open, b: stillOpen }), b: dy });
        const placed = place(routed, ky, kx);
        const sum = canvas === undefined ? placed : s.run('Add', { a: canvas, b: placed });
        s.sweep(loopStart, [sum, stillOpen]);
        [canvas, open] = [sum, stillOpen];
      }
    }
    // Crop the canvas to the input: a depthwise convolution whose one-hot filter skips the
    // padding rows in front and whose size leaves out the ones behind.
    const [canvasH, canvasW] = [rowsCanvas * sh, colsCanvas * sw];
    const cropFilter = hot(canvasH - g.inHeight + 1, canvasW - g.inWidth + 1, g.top, g.left);
    return s.depthwiseConv2d(canvas as TensorInfo, cropFilter, noPadding, [1, 1]);
  });
}

/**
 * Canvas length, in blocks of `stride` rows, that holds every tap's placement (up to
 * (out-1)*stride + k - 1) and the input behind its front padding (up to top + size - 1).
 */
function canvasBlocks(k: number, stride: number, top: number, size: number, out: number): number {
  return Math.ceil(Math.max(top + size, (out - 1) * stride + k) / stride);
}

const noPadding: [Pair, Pair] = [
  [0, 0],
  [0, 0],
];

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: WASM,
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
