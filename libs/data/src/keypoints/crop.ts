// One training or evaluation sample of a top-down pose model: the person's box padded to the crop's
// aspect, the reference's scale / rotation / flip augmentation (`P/dataset/JointsDataset.py:88-109`),
// the image warped into the crop and the keypoints carried along.
import { decodeDetectionImage, DEFAULT_MAX_DETECTION_PIXELS } from '../detection/decode';
import { checkInt, invalidArgument } from '../errors';
import type { Rng } from '../rng';
import { type Affine, applyAffine, boxCenterScale, cropAffine, warpAffine } from './affine';
import type { KeypointPair, PersonInstance } from './types';

/** Decodes a person's image to RGB bytes (HWC), checked to have the size its annotation gives. */
export function decodePersonImage(
  instance: PersonInstance,
  maxPixels: number = DEFAULT_MAX_DETECTION_PIXELS,
): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  return decodeDetectionImage(
    { id: instance.imageId, file: instance.file, width: instance.width, height: instance.height },
    maxPixels,
  );
}

export interface KeypointSampleOptions {
  inputWidth: number;
  inputHeight: number;
  /** Scale augmentation: the scale times clip(1 + s N(0,1), 1 - s, 1 + s). */
  scaleFactor: number;
  /** Rotation augmentation in degrees: clip(r N(0,1), -2r, 2r), with probability ROTATION_PROBABILITY. */
  rotationFactor: number;
  /** Left/right pairs a mirror swaps. */
  flipPairs: readonly KeypointPair[];
}

export interface KeypointSample {
  /** The crop, inputHeight x inputWidth RGB bytes (HWC). */
  pixels: Uint8Array;
  /**
   * K (x, y, v) in crop pixels, v as annotated; unlabelled keypoints (v = 0) stay (0, 0, 0). Points
   * may fall outside the crop (the target builder gives them no weight).
   */
  keypoints: Float32Array;
  /** Original image pixels to crop pixels, the mirror (when flipped) included. */
  affine: Affine;
  /** The reference's c, s and r: of the mirrored image when flipped (cx -> W - 1 - cx). */
  center: [number, number];
  scale: [number, number];
  rotation: number;
  flipped: boolean;
}

/** The reference rotates 60% of training crops and mirrors half of them. */
export const ROTATION_PROBABILITY = 0.6;
export const FLIP_PROBABILITY = 0.5;

/** A standard normal draw (Box-Muller, one uniform pair per draw so the sequence is easy to follow). */
function normal(rng: Rng): number {
  const u = 1 - rng.nextFloat();
  const v = rng.nextFloat();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

const clip = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/**
 * A person's crop: centre and scale from its box (padded to inputWidth / inputHeight, times
 * 1.25), then with `rng` the reference's training augmentation in its order (scale, rotation with
 * p 0.6, mirror with p 0.5: x -> W - 1 - x, cx -> W - 1 - cx, left/right pairs swapped); with
 * `rng` null the plain evaluation crop. `pixels` are the decoded image (instance.width x
 * instance.height RGB). Draws nothing from `rng` but its own, in a fixed order, so a seed gives
 * the same crop.
 */
export function keypointSample(
  instance: PersonInstance,
  pixels: Uint8Array,
  options: KeypointSampleOptions,
  rng: Rng | null,
): KeypointSample {
  const inputWidth = checkInt('inputWidth', options.inputWidth, 1, 4096);
  const inputHeight = checkInt('inputHeight', options.inputHeight, 1, 4096);
  const { width, height } = instance;
  if (pixels.length !== width * height * 3) {
    throw invalidArgument('pixels', `${pixels.length} bytes`, `${width}x${height}x3 bytes of RGB`);
  }
  const k = instance.keypoints.length / 3;
  const pairs = options.flipPairs ?? [];
  for (const [a, b] of pairs) {
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0 && a < k && b < k && a !== b)) {
      throw invalidArgument('flipPairs', JSON.stringify([a, b]), `pairs of distinct indices below ${k}`);
    }
  }
  const { center, scale } = boxCenterScale(instance.box, inputWidth / inputHeight);
  let rotation = 0;
  let flipped = false;
  if (rng !== null) {
    const sf = options.scaleFactor;
    const rf = options.rotationFactor;
    if (!(sf >= 0 && sf < 1)) throw invalidArgument('scaleFactor', sf, 'a number in [0, 1)');
    if (!(rf >= 0 && rf <= 180)) throw invalidArgument('rotationFactor', rf, 'a number in [0, 180]');
    const s = clip(normal(rng) * sf + 1, 1 - sf, 1 + sf);
    scale[0] *= s;
    scale[1] *= s;
    if (rng.nextFloat() < ROTATION_PROBABILITY) rotation = clip(normal(rng) * rf, -2 * rf, 2 * rf);
    flipped = rng.nextFloat() < FLIP_PROBABILITY;
  }
  if (flipped) center[0] = width - 1 - center[0];
  const t = cropAffine(center, scale, rotation, inputWidth, inputHeight);
  // The mirror x -> W - 1 - x composed in, so the original image is warped once.
  const affine: Affine = flipped
    ? [-t[0], t[1], t[0] * (width - 1) + t[2], -t[3], t[4], t[3] * (width - 1) + t[5]]
    : t;
  const crop = warpAffine(pixels, width, height, 3, affine, inputWidth, inputHeight);
  const source = instance.keypoints;
  const keypoints = new Float32Array(k * 3);
  const target = Int32Array.from({ length: k }, (_, j) => j);
  if (flipped) {
    for (const [a, b] of pairs) {
      target[a] = b;
      target[b] = a;
    }
  }
  for (let j = 0; j < k; j++) {
    const v = source[3 * j + 2];
    if (!(v > 0)) continue;
    const [x, y] = applyAffine(affine, source[3 * j], source[3 * j + 1]);
    const o = 3 * target[j];
    keypoints[o] = x;
    keypoints[o + 1] = y;
    keypoints[o + 2] = v;
  }
  return { pixels: crop, keypoints, affine, center, scale, rotation, flipped };
}
