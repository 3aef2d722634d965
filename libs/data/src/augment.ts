import { checkInt, invalidArgument } from './errors';
import type { Rng } from './rng';
import { imageBytes, type Split } from './split';

/**
 * The augmentation of RELATIVENAS.md section 7, as DARTS applies it: random crop with zero padding
 * (zero raw pixels, before normalisation), horizontal flip with probability 1/2, normalisation
 * with the dataset's per-channel mean and std, then cutout (one square of side `cutout`, centred
 * anywhere in the image, clipped at the border, set to 0 after normalisation).
 *
 * It runs on the host arrays in one pass per image (gather from uint8 through a lookup table of
 * normalised values) before one tensor is made per batch: this is data preparation, and a tight
 * typed-array loop beats launching a dozen small tfjs kernels per batch (see bench/src/data.ts).
 */
export interface AugmentOptions {
  /** Seeds the draws; batch k of a pass uses a stream derived from (seed, k). */
  seed: number;
  /** Zero padding for the random crop; default 4, 0 disables the crop. */
  padding?: number;
  /** Random horizontal flip; default true. */
  flip?: boolean;
  /** Cutout side; default 16, 0 disables cutout. */
  cutout?: number;
}

export interface ResolvedAugment {
  seed: number;
  padding: number;
  flip: boolean;
  cutout: number;
}

export function resolveAugment(options: AugmentOptions, field = 'augment'): ResolvedAugment {
  if (options === null || typeof options !== 'object') throw invalidArgument(field, options, 'an object');
  const flip = options.flip ?? true;
  if (typeof flip !== 'boolean') throw invalidArgument(`${field}.flip`, flip, 'a boolean');
  return {
    seed: checkInt(`${field}.seed`, options.seed, 0, Number.MAX_SAFE_INTEGER),
    padding: checkInt(`${field}.padding`, options.padding ?? 4, 0, 256),
    flip,
    cutout: checkInt(`${field}.cutout`, options.cutout ?? 16, 0, 4096),
  };
}

/** normalised[c * 256 + v] = (v / 255 - mean[c]) / std[c], in float32 as the batch holds it. */
export function normalizationTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const table = new Float32Array(mean.length * 256);
  for (let c = 0; c < mean.length; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v / 255 - mean[c]) / std[c];
  }
  return table;
}

/**
 * Writes the images `indices` of `split`, normalised and (with `augment` and its generator)
 * augmented, into `out` (NHWC float32). Per image the draws are, in order: crop offsets y then x
 * (each in [0, 2 * padding]), flip (one draw), cutout centre y then x.
 */
export function fillImages(
  split: Split,
  indices: ArrayLike<number>,
  out: Float32Array,
  table: Float32Array,
  augment?: { options: ResolvedAugment; rng: Rng },
): void {
  const [h, w, ch] = split.imageShape;
  const per = imageBytes(split.imageShape);
  const images = split.images;
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b] * per;
    const dst = b * per;
    if (augment === undefined) {
      if (ch === 1) {
        for (let k = 0; k < per; k++) out[dst + k] = table[images[src + k]];
      } else {
        for (let k = 0; k < per; k += ch) {
          for (let c = 0; c < ch; c++) out[dst + k + c] = table[c * 256 + images[src + k + c]];
        }
      }
      continue;
    }
    const { padding, flip, cutout } = augment.options;
    const rng = augment.rng;
    const oy = padding > 0 ? rng.nextInt(2 * padding + 1) - padding : 0;
    const ox = padding > 0 ? rng.nextInt(2 * padding + 1) - padding : 0;
    const flipped = flip && rng.nextInt(2) === 1;
    for (let y = 0; y < h; y++) {
      const sy = y + oy;
      const rowInside = sy >= 0 && sy < h;
      for (let x = 0; x < w; x++) {
        const sx = (flipped ? w - 1 - x : x) + ox;
        const o = dst + (y * w + x) * ch;
        if (rowInside && sx >= 0 && sx < w) {
          const s = src + (sy * w + sx) * ch;
          for (let c = 0; c < ch; c++) out[o + c] = table[c * 256 + images[s + c]];
        } else {
          for (let c = 0; c < ch; c++) out[o + c] = table[c * 256];
        }
      }
    }
    if (cutout > 0) {
      // DARTS's Cutout: centre uniform over the image, half-side length // 2 on each side, clipped.
      const cy = rng.nextInt(h);
      const cx = rng.nextInt(w);
      const half = Math.floor(cutout / 2);
      const y1 = Math.max(0, cy - half);
      const y2 = Math.min(h, cy + half);
      const x1 = Math.max(0, cx - half);
      const x2 = Math.min(w, cx + half);
      for (let y = y1; y < y2; y++) out.fill(0, dst + (y * w + x1) * ch, dst + (y * w + x2) * ch);
    }
  }
}
