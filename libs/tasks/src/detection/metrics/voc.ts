// PASCAL VOC average precision as the authors' SSDLite evaluates it (DENSE.md section 2 "Eval";
// `SSDLite/eval_metrics.py:42-88`, `SSDLite/vision/utils/measurements.py`,
// `SSDLite/vision/utils/box_utils.py:98-128`).
import { byClassAndImage, byScore, checkEvalInputs, type EvalDetection, type EvalGroundTruth } from './types';

export interface VocOptions {
  /** Object classes (background excluded); class indices are in [0, classes). */
  classes: number;
  /** A detection is a hit above this IoU (strictly greater) [0.5]. */
  iouThreshold?: number;
  /** VOC2007's 11-point interpolated AP (the reference's default) instead of the all-point area (VOC2010+). */
  use07Metric: boolean;
}

export interface VocResult {
  /** Per class; NaN for a class without a positive (every ground truth difficult, or none). */
  ap: number[];
  /** Mean over the classes whose AP is defined; NaN when none is. */
  mAP: number;
}

/**
 * The reference's IoU, `box_utils.iou_of`: continuous areas, w = x2 - x1 with no +1 pixel (unlike
 * the VOC devkit's (x2 - x1 + 1)), and eps = 1e-5 added to the union. The reference adds 1 to the
 * predicted corners when it writes them and subtracts 1 when it reads them back, and its VOC reader
 * subtracts 1 from every annotation corner, so both sides are in the same 0-based pixels.
 */
export function referenceIou(a: readonly number[], b: readonly number[]): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const overlap = w * h;
  const areaA = Math.max(0, a[2] - a[0]) * Math.max(0, a[3] - a[1]);
  const areaB = Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
  return overlap / (areaA + areaB - overlap + 1e-5);
}

/**
 * VOC2007's 11-point AP: the mean over t = 0, 0.1, ..., 1 of the best precision at recall >= t (0
 * where none). The thresholds are i * 0.1 as numpy's arange makes them (0.30000000000000004, ...),
 * so that a recall of exactly 0.3 misses t = 0.3 as it does in the reference.
 */
export function vocAp11(precision: readonly number[], recall: readonly number[]): number {
  let ap = 0;
  for (let i = 0; i <= 10; i++) {
    const t = i * 0.1;
    let p = 0;
    for (let j = 0; j < recall.length; j++) if (recall[j] >= t && precision[j] > p) p = precision[j];
    ap += p / 11;
  }
  return ap;
}

/**
 * The all-point AP (VOC2010+): the area under the precision envelope (precision[i] = the best
 * precision at any later point), summed where the recall changes, from recall 0 to 1.
 */
export function vocApArea(precision: readonly number[], recall: readonly number[]): number {
  const p = [0, ...precision, 0];
  for (let i = p.length - 1; i > 0; i--) p[i - 1] = Math.max(p[i - 1], p[i]);
  const r = [0, ...recall, 1];
  let area = 0;
  for (let i = 0; i + 1 < r.length; i++) if (r[i + 1] !== r[i]) area += (r[i + 1] - r[i]) * p[i + 1];
  return area;
}

/**
 * Per-class AP and their mean. Each class's detections, best score first (ties in input order), go
 * to their image's ground truth of the class with the largest IoU (the first of equals): a hit if
 * the IoU is > iouThreshold and that ground truth is not difficult and not yet matched, a false
 * positive if it is already matched or the IoU is lower (or the image has none), and neither when it
 * is difficult. Precision = tp / (tp + fp) and recall = tp / (non-difficult ground truths).
 *
 * One departure: a detection ranked before any hit or false positive (only difficult matches so far)
 * has precision 0/0, which the reference leaves NaN and so makes the class's 11-point AP NaN; here it
 * is 0, as in the VOC devkit, which changes no AP the reference defines.
 */
export function vocEvaluate(
  detections: readonly EvalDetection[],
  groundTruths: readonly EvalGroundTruth[],
  options: VocOptions,
): VocResult {
  const { classes, iouThreshold = 0.5, use07Metric } = options;
  checkEvalInputs(detections, groundTruths, classes);
  if (!(iouThreshold >= 0 && iouThreshold < 1))
    throw new Error(`options.iouThreshold: expected a number in [0, 1), got ${iouThreshold}`);
  const gtsByClass = byClassAndImage(groundTruths, classes);
  const detsByClass = byClassAndImage(detections, classes);
  const ap = gtsByClass.map((gtsByImage, c) => {
    let positives = 0;
    for (const list of gtsByImage.values()) for (const g of list) if (!g.difficult) positives++;
    if (positives === 0) return NaN;
    const dets = [...detsByClass[c].values()].flat();
    const matched = new Map(
      [...gtsByImage].map(([id, list]) => [id, new Array<boolean>(list.length).fill(false)]),
    );
    const precision: number[] = [];
    const recall: number[] = [];
    let tp = 0;
    let fp = 0;
    for (const i of byScore(dets)) {
      const d = dets[i];
      const gts = gtsByImage.get(d.imageId);
      if (gts === undefined) fp++;
      else {
        let best = -1;
        let bestIou = -Infinity;
        gts.forEach((g, j) => {
          const iou = referenceIou(d.box, g.box);
          if (iou > bestIou) [best, bestIou] = [j, iou];
        });
        const taken = matched.get(d.imageId)!;
        if (!(bestIou > iouThreshold)) fp++;
        else if (!gts[best].difficult) {
          if (taken[best]) fp++;
          else [taken[best], tp] = [true, tp + 1];
        }
      }
      precision.push(tp + fp === 0 ? 0 : tp / (tp + fp));
      recall.push(tp / positives);
    }
    return use07Metric ? vocAp11(precision, recall) : vocApArea(precision, recall);
  });
  const defined = ap.filter((v) => !Number.isNaN(v));
  const mAP = defined.length === 0 ? NaN : defined.reduce((s, v) => s + v, 0) / defined.length;
  return { ap, mAP };
}
