// BiSeNet's joint image + label augmentation (DENSE.md section 3 "Data";
// `B/data_utils/transform.py`): horizontal flip with p 0.5, a scale drawn from a list (bilinear
// image, nearest labels), then a random crop. Where the scaled image is smaller than the crop it
// is padded (image 0, labels 255 = ignore) instead of the reference's upscaling, so the scale
// drawn is the scale trained on. Pure JS, so a seeded Rng gives the same sample on any machine.
import { checkInt, invalidArgument } from '../errors';
import { linearTaps } from '../detection/augment';
import type { Rng } from '../rng';
import { SEGMENTATION_IGNORE, type SegmentationSample } from './types';

export interface SegmentationAugmentOptions {
  /** Scale factors to draw from, uniformly (BiSeNet: 0.75, 1, 1.25, 1.5, 1.75, 2). */
  scales: readonly number[];
  /** The crop's size: every augmented sample has it. */
  height: number;
  width: number;
}

const MAX_SIDE = 1 << 16;
/** Largest scaled image held (a 2x scale of a 4096 x 8192 image): a bad scale stops here. */
const MAX_SCALED_PIXELS = 1 << 27;
const MAX_SCALE = 16;

function checkSample(sample: SegmentationSample): void {
  const { width, height, pixels, mask } = sample ?? {};
  checkInt('sample.width', width, 1, MAX_SIDE);
  checkInt('sample.height', height, 1, MAX_SIDE);
  if (!(pixels instanceof Uint8Array) || pixels.length !== width * height * 3) {
    throw invalidArgument('sample.pixels', pixels?.length, `a Uint8Array of ${width}x${height}x3 values`);
  }
  if (!(mask instanceof Uint8Array) || mask.length !== width * height) {
    throw invalidArgument('sample.mask', mask?.length, `a Uint8Array of ${width}x${height} labels`);
  }
}

/** RGB bytes resized bilinearly (cv::resize INTER_LINEAR's taps, as detection's resize), rounded. */
function resizeBilinear(
  src: Uint8Array,
  width: number,
  height: number,
  outW: number,
  outH: number,
): Uint8Array {
  if (outW === width && outH === height) return Uint8Array.from(src);
  const xs = linearTaps(width, outW);
  const ys = linearTaps(height, outH);
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const r0 = ys.index[y] * width * 3;
    const r1 = ys.next[y] * width * 3;
    const fy = ys.weight[y];
    for (let x = 0; x < outW; x++) {
      const c0 = xs.index[x] * 3;
      const c1 = xs.next[x] * 3;
      const fx = xs.weight[x];
      const o = (y * outW + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + c0 + c] * (1 - fx) + src[r0 + c1 + c] * fx;
        const bottom = src[r1 + c0 + c] * (1 - fx) + src[r1 + c1 + c] * fx;
        out[o + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return out;
}

/** Nearest source index per output position, by pixel centres (PIL's NEAREST): labels are never blended. */
function nearestTaps(input: number, output: number): Int32Array {
  const taps = new Int32Array(output);
  for (let d = 0; d < output; d++) taps[d] = Math.min(input - 1, Math.floor(((d + 0.5) * input) / output));
  return taps;
}

function resizeNearest(
  src: Uint8Array,
  width: number,
  height: number,
  outW: number,
  outH: number,
): Uint8Array {
  if (outW === width && outH === height) return Uint8Array.from(src);
  const xs = nearestTaps(width, outW);
  const ys = nearestTaps(height, outH);
  const out = new Uint8Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const row = ys[y] * width;
    for (let x = 0; x < outW; x++) out[y * outW + x] = src[row + xs[x]];
  }
  return out;
}

/**
 * A sample resized to `height x width` (bilinear image, nearest labels): evaluation's input.
 * Returns a new sample; the input is not changed.
 */
export function resizeSegmentation(
  sample: SegmentationSample,
  height: number,
  width: number,
): SegmentationSample {
  checkSample(sample);
  checkInt('height', height, 1, MAX_SIDE);
  checkInt('width', width, 1, MAX_SIDE);
  if (width * height > MAX_SCALED_PIXELS) {
    throw invalidArgument('height x width', `${height}x${width}`, `at most ${MAX_SCALED_PIXELS} pixels`);
  }
  return {
    pixels: resizeBilinear(sample.pixels, sample.width, sample.height, width, height),
    mask: resizeNearest(sample.mask, sample.width, sample.height, width, height),
    width,
    height,
  };
}

/**
 * One training sample as BiSeNet's transform makes it: flip (p 0.5), scale (one of `scales`),
 * then a `height x width` crop at a uniform offset, padded with image 0 and label 255 (bottom and
 * right, before the flip) where the scaled image is smaller. Draws, in order: the flip, the
 * scale, the crop's x and y offsets. Returns a new sample; the input is not changed.
 */
export function augmentSegmentation(
  sample: SegmentationSample,
  rng: Rng,
  options: SegmentationAugmentOptions,
): SegmentationSample {
  checkSample(sample);
  if (options === null || typeof options !== 'object') throw invalidArgument('options', options, 'an object');
  const { scales } = options;
  if (
    !Array.isArray(scales) ||
    scales.length === 0 ||
    !scales.every((s) => typeof s === 'number' && s > 0 && s <= MAX_SCALE)
  ) {
    throw invalidArgument('scales', scales, `a non-empty list of numbers in (0, ${MAX_SCALE}]`);
  }
  const outH = checkInt('height', options.height, 1, MAX_SIDE);
  const outW = checkInt('width', options.width, 1, MAX_SIDE);
  const flip = rng.nextFloat() < 0.5;
  const scale = scales[rng.nextInt(scales.length)];
  // As the reference: int(W * scale), at least a pixel.
  const sw = Math.max(1, Math.floor(sample.width * scale));
  const sh = Math.max(1, Math.floor(sample.height * scale));
  if (sw * sh > MAX_SCALED_PIXELS) {
    throw invalidArgument(
      'scales',
      scale,
      `a scale keeping the ${sample.width}x${sample.height} image under ${MAX_SCALED_PIXELS} pixels`,
    );
  }
  const pixels = resizeBilinear(sample.pixels, sample.width, sample.height, sw, sh);
  const mask = resizeNearest(sample.mask, sample.width, sample.height, sw, sh);
  const left = rng.nextInt(Math.max(sw, outW) - outW + 1);
  const top = rng.nextInt(Math.max(sh, outH) - outH + 1);
  const outPixels = new Uint8Array(outW * outH * 3);
  const outMask = new Uint8Array(outW * outH).fill(SEGMENTATION_IGNORE);
  const rows = Math.min(outH, sh - top);
  const cols = Math.min(outW, sw - left);
  for (let y = 0; y < rows; y++) {
    const src = (top + y) * sw + left;
    for (let x = 0; x < cols; x++) {
      const o = y * outW + (flip ? outW - 1 - x : x);
      outMask[o] = mask[src + x];
      outPixels.set(pixels.subarray((src + x) * 3, (src + x) * 3 + 3), o * 3);
    }
  }
  return { pixels: outPixels, mask: outMask, width: outW, height: outH };
}
