// Keypoint metrics: COCO's object keypoint similarity and the keypoint AP pycocotools' COCOeval
// computes from it (iouType 'keypoints': OKS thresholds .50:.05:.95, 101 recall points, 20
// detections per image; DENSE.md section 4, "Eval"), and PCK at a fraction of the box size.
import { accumulateCoco, cocoMean, evaluateCocoImage, type CocoImage } from '../detection/metrics/cocoeval';
import { byScore, EvalInputError } from '../detection/metrics/types';

/** A person's annotation in image pixels. */
export interface KeypointGroundTruth {
  readonly imageId: string;
  /** k triples (x, y, v): v 0 unlabelled, 1 labelled but hidden, 2 visible. */
  readonly keypoints: ArrayLike<number>;
  /** [x, y, w, h]. */
  readonly box: readonly [number, number, number, number];
  /** COCO's segment area (the OKS scale s²). */
  readonly area: number;
  /** iscrowd: ignored (matched by anything, counted nowhere). */
  readonly crowd?: boolean;
}

/** A person's predicted keypoints in image pixels. */
export interface KeypointDetection {
  readonly imageId: string;
  /** k triples (x, y, score of the keypoint); OKS reads x and y. */
  readonly keypoints: ArrayLike<number>;
  /** The instance's score, which orders the detections. */
  readonly score: number;
}

export interface KeypointEvalOptions {
  /** Per-keypoint OKS sigmas (COCO_OKS_SIGMAS for COCO's 17). */
  readonly sigmas: readonly number[];
  /** Detections per image kept, best score first (COCO's 20). */
  readonly maxDets?: number;
}

/** COCOeval's keypoint summary; -1 where no ground truth lies in the area range. */
export interface KeypointEvalResult {
  /** AP at OKS .50:.05:.95, all areas. */
  readonly AP: number;
  readonly AP50: number;
  readonly AP75: number;
  /** 32² <= area <= 96². */
  readonly APm: number;
  /** Area > 96². */
  readonly APl: number;
  /** Recall averaged over the thresholds, all areas. */
  readonly AR: number;
}

/** all, medium, large (COCOeval's keypoint ranges). */
const AREA_RANGES = [
  [0, 1e10],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e10],
] as const;
/** np.spacing(1): keeps a zero area from dividing by zero. */
const EPS = 2.220446049250313e-16;
const MAX_COORDINATE = 1e9;

function checkKeypoints(values: ArrayLike<number>, k: number, path: string, visibility: boolean): void {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new EvalInputError(`${path}.keypoints`, `expected ${3 * k} numbers`, values);
  }
  if (values.length !== 3 * k) {
    throw new EvalInputError(
      `${path}.keypoints`,
      `expected ${3 * k} numbers (${k} keypoints)`,
      values.length,
    );
  }
  for (let j = 0; j < k; j++) {
    for (const c of [0, 1]) {
      const v = values[3 * j + c];
      if (!(Math.abs(v) <= MAX_COORDINATE)) {
        throw new EvalInputError(
          `${path}.keypoints[${3 * j + c}]`,
          'expected a finite number in [-1e9, 1e9]',
          v,
        );
      }
    }
    const v = values[3 * j + 2];
    if (visibility ? !(v === 0 || v === 1 || v === 2) : !Number.isFinite(v)) {
      throw new EvalInputError(
        `${path}.keypoints[${3 * j + 2}]`,
        visibility ? 'expected a visibility flag 0, 1 or 2' : 'expected a finite score',
        v,
      );
    }
  }
}

function checkInputs(
  detections: readonly KeypointDetection[],
  truths: readonly KeypointGroundTruth[],
  sigmas: readonly number[],
): void {
  if (!Array.isArray(sigmas) || sigmas.length === 0 || !sigmas.every((s) => Number.isFinite(s) && s > 0)) {
    throw new EvalInputError('options.sigmas', 'expected a positive number per keypoint', sigmas);
  }
  const k = sigmas.length;
  truths.forEach((g, i) => {
    const path = `groundTruths[${i}]`;
    if (typeof g.imageId !== 'string')
      throw new EvalInputError(`${path}.imageId`, 'expected a string', g.imageId);
    checkKeypoints(g.keypoints, k, path, true);
    if (!Array.isArray(g.box) || g.box.length !== 4 || !g.box.every((v) => Math.abs(v) <= MAX_COORDINATE)) {
      throw new EvalInputError(`${path}.box`, 'expected [x, y, w, h] of finite numbers', g.box);
    }
    if (g.box[2] < 0 || g.box[3] < 0)
      throw new EvalInputError(`${path}.box`, 'expected w >= 0 and h >= 0', g.box);
    if (!(Number.isFinite(g.area) && g.area >= 0)) {
      throw new EvalInputError(`${path}.area`, 'expected a finite number >= 0', g.area);
    }
  });
  detections.forEach((d, i) => {
    const path = `detections[${i}]`;
    if (typeof d.imageId !== 'string')
      throw new EvalInputError(`${path}.imageId`, 'expected a string', d.imageId);
    checkKeypoints(d.keypoints, k, path, false);
    if (!Number.isFinite(d.score))
      throw new EvalInputError(`${path}.score`, 'expected a finite number', d.score);
  });
}

/**
 * COCO's OKS (`COCOeval.computeOks`): the mean over the ground truth's labelled keypoints of
 * exp(−d² / (2·area·(2σ)²)). Without a labelled keypoint, d is the distance outside the box
 * grown by its size on each side, over every keypoint.
 */
export function objectKeypointSimilarity(
  detection: ArrayLike<number>,
  truth: Pick<KeypointGroundTruth, 'keypoints' | 'box' | 'area'>,
  sigmas: readonly number[],
): number {
  const g = truth.keypoints;
  const k = sigmas.length;
  let labelled = 0;
  for (let j = 0; j < k; j++) if (g[3 * j + 2] > 0) labelled++;
  const [bx, by, bw, bh] = truth.box;
  const [x0, x1, y0, y1] = [bx - bw, bx + bw * 2, by - bh, by + bh * 2];
  let sum = 0;
  for (let j = 0; j < k; j++) {
    if (labelled > 0 && !(g[3 * j + 2] > 0)) continue;
    const xd = detection[3 * j];
    const yd = detection[3 * j + 1];
    const dx = labelled > 0 ? xd - g[3 * j] : Math.max(0, x0 - xd) + Math.max(0, xd - x1);
    const dy = labelled > 0 ? yd - g[3 * j + 1] : Math.max(0, y0 - yd) + Math.max(0, yd - y1);
    const variance = (2 * sigmas[j]) ** 2;
    sum += Math.exp(-((dx * dx + dy * dy) / variance / (truth.area + EPS) / 2));
  }
  return sum / (labelled > 0 ? labelled : k);
}

/** The area COCO's loadRes gives a keypoint result: its keypoints' bounding box. */
function detectionArea(keypoints: ArrayLike<number>): number {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let o = 0; o < keypoints.length; o += 3) {
    x0 = Math.min(x0, keypoints[o]);
    x1 = Math.max(x1, keypoints[o]);
    y0 = Math.min(y0, keypoints[o + 1]);
    y1 = Math.max(y1, keypoints[o + 1]);
  }
  return (x1 - x0) * (y1 - y0);
}

/**
 * COCO keypoint AP (one category, person): images are those named by a ground truth or a
 * detection, in sorted id order as COCOeval takes them; each image's best `maxDets` detections.
 */
export function keypointEvaluate(
  detections: readonly KeypointDetection[],
  groundTruths: readonly KeypointGroundTruth[],
  options: KeypointEvalOptions,
): KeypointEvalResult {
  const { sigmas, maxDets = 20 } = options;
  checkInputs(detections, groundTruths, sigmas);
  if (!Number.isInteger(maxDets) || maxDets < 1) {
    throw new EvalInputError('options.maxDets', 'expected a positive integer', maxDets);
  }
  const group = <T extends { imageId: string }>(items: readonly T[]) => {
    const byImage = new Map<string, T[]>();
    for (const item of items) {
      const list = byImage.get(item.imageId);
      if (list === undefined) byImage.set(item.imageId, [item]);
      else list.push(item);
    }
    return byImage;
  };
  const gtsByImage = group(groundTruths);
  const detsByImage = group(detections);
  const images = [...new Set([...gtsByImage.keys(), ...detsByImage.keys()])].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const evals = images.map((id): CocoImage => {
    const gts = gtsByImage.get(id) ?? [];
    const all = detsByImage.get(id) ?? [];
    const dets = byScore(all)
      .slice(0, maxDets)
      .map((i) => all[i]);
    return {
      dets: dets.map((d) => ({ score: d.score, area: detectionArea(d.keypoints) })),
      gts: gts.map((g) => {
        let labelled = 0;
        for (let o = 2; o < g.keypoints.length; o += 3) if (g.keypoints[o] > 0) labelled++;
        return { ignore: g.crowd === true || labelled === 0, crowd: g.crowd === true, area: g.area };
      }),
      similarity: dets.map((d) => gts.map((g) => objectKeypointSimilarity(d.keypoints, g, sigmas))),
    };
  });
  const [all, medium, large] = AREA_RANGES.map((range) =>
    accumulateCoco(evals.map((im) => evaluateCocoImage(im, range)).filter((r) => r !== null)),
  );
  const ap = (a: ReturnType<typeof accumulateCoco>, threshold?: number) =>
    a === null ? -1 : cocoMean(threshold === undefined ? a.precision.flat() : a.precision[threshold]);
  return {
    AP: ap(all),
    AP50: ap(all, 0),
    AP75: ap(all, 5),
    APm: ap(medium),
    APl: ap(large),
    AR: all === null ? -1 : cocoMean(all.recall),
  };
}

/**
 * PCK: the share of labelled keypoints (v > 0) predicted within `fraction` of the ground truth
 * box's larger side; -1 without a labelled keypoint. `predictions[i]` (k triples x, y, score)
 * belongs to `truths[i]`.
 */
export function percentCorrectKeypoints(
  predictions: readonly ArrayLike<number>[],
  truths: readonly Pick<KeypointGroundTruth, 'keypoints' | 'box'>[],
  fraction = 0.2,
): number {
  if (predictions.length !== truths.length) {
    throw new EvalInputError(
      'predictions',
      `expected one per ground truth (${truths.length})`,
      predictions.length,
    );
  }
  if (!(fraction > 0 && Number.isFinite(fraction))) {
    throw new EvalInputError('fraction', 'expected a positive number', fraction);
  }
  let correct = 0;
  let total = 0;
  truths.forEach((g, i) => {
    const p = predictions[i];
    const k = g.keypoints.length / 3;
    if (!Number.isInteger(k) || p.length !== g.keypoints.length) {
      throw new EvalInputError(`predictions[${i}]`, `expected ${g.keypoints.length} numbers`, p.length);
    }
    const limit = fraction * Math.max(g.box[2], g.box[3]);
    for (let j = 0; j < k; j++) {
      if (!(g.keypoints[3 * j + 2] > 0)) continue;
      total++;
      if (Math.hypot(p[3 * j] - g.keypoints[3 * j], p[3 * j + 1] - g.keypoints[3 * j + 1]) <= limit)
        correct++;
    }
  });
  return total === 0 ? -1 : correct / total;
}
