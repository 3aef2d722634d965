// From head outputs to detections: the reference's `Predictor.predict` (DENSE.md section 2, "Eval").
import { centerToCorner, decodeBoxes } from './boxes';
import { nms } from './nms';
import { MAX_DETECTIONS, type Detection } from './record';

export interface DecodeOptions {
  /** A class's detections need a probability above this (the reference's `filter_threshold`). */
  readonly scoreThreshold?: number;
  /** NMS drops a box whose IoU with a kept one of its class is above this. */
  readonly iouThreshold?: number;
  /** Highest-scoring boxes per class that NMS considers (`candidate_size`). */
  readonly candidates?: number;
  /** Most detections per image, the best kept. */
  readonly maxDetections?: number;
}

export const DEFAULT_DECODE_OPTIONS: Required<DecodeOptions> = {
  scoreThreshold: 0.01,
  iouThreshold: 0.45,
  candidates: 200,
  maxDetections: MAX_DETECTIONS,
};

/** Options with defaults filled in; an out-of-range value is an error naming it. */
export function resolveDecodeOptions(options: DecodeOptions = {}): Required<DecodeOptions> {
  const o = { ...DEFAULT_DECODE_OPTIONS, ...options };
  const check = (ok: boolean, field: keyof DecodeOptions, expected: string) => {
    if (!ok) throw new Error(`decode: ${field} must be ${expected}, got ${o[field]}`);
  };
  check(o.scoreThreshold >= 0 && o.scoreThreshold <= 1, 'scoreThreshold', 'in [0, 1]');
  check(o.iouThreshold >= 0 && o.iouThreshold <= 1, 'iouThreshold', 'in [0, 1]');
  check(Number.isSafeInteger(o.candidates) && o.candidates >= 1, 'candidates', 'an integer >= 1');
  check(
    Number.isSafeInteger(o.maxDetections) && o.maxDetections >= 1 && o.maxDetections <= MAX_DETECTIONS,
    'maxDetections',
    `an integer in [1, ${MAX_DETECTIONS}]`,
  );
  return o;
}

/**
 * One image's detections: boxes decoded against the priors; per object class, the priors whose
 * probability is above the threshold go through NMS; then all classes' survivors, best first
 * (ties: class order, then NMS order), at most `maxDetections`.
 *
 * @param probabilities `[P, K]` softmax over background and the K − 1 object classes.
 * @param locations `[P, 4]` the head's box regressions.
 * @param priors `[P, 4]` centre-form priors.
 */
export function decodeDetections(
  probabilities: ArrayLike<number>,
  locations: ArrayLike<number>,
  priors: Float32Array,
  options: DecodeOptions = {},
): Detection[] {
  const o = resolveDecodeOptions(options);
  const p = priors.length / 4;
  if (locations.length !== 4 * p || p === 0 || probabilities.length % p !== 0) {
    throw new Error(
      `decode: ${p} priors, ${locations.length} location values and ${probabilities.length} probabilities do not line up`,
    );
  }
  const k = probabilities.length / p;
  const boxes = centerToCorner(decodeBoxes(locations, priors));
  const found: Detection[] = [];
  for (let c = 1; c < k; c++) {
    const picked: number[] = [];
    for (let i = 0; i < p; i++) if (probabilities[i * k + c] > o.scoreThreshold) picked.push(i);
    if (picked.length === 0) continue;
    const classBoxes = new Float32Array(4 * picked.length);
    picked.forEach((i, m) => classBoxes.set(boxes.subarray(4 * i, 4 * i + 4), 4 * m));
    const scores = picked.map((i) => probabilities[i * k + c]);
    for (const m of nms(classBoxes, scores, o.iouThreshold, o.candidates)) {
      const b = classBoxes.subarray(4 * m, 4 * m + 4);
      found.push({ box: [b[0], b[1], b[2], b[3]], score: scores[m], classIndex: c - 1 });
    }
  }
  // Array.prototype.sort is stable: equal scores keep their class and NMS order.
  return found.sort((a, b) => b.score - a.score).slice(0, o.maxDetections);
}
