// pycocotools' COCOeval.evaluateImg and accumulate, shared by box AP (similarity: IoU) and keypoint
// AP (similarity: OKS): the matching at each threshold and the 101-point interpolated precision.
import { byScore } from './types';

/** np.linspace(.5, .95, 10): i * step + start with the last set to stop, to the last bit. */
export const COCO_THRESHOLDS = Array.from({ length: 10 }, (_, i) =>
  i === 9 ? 0.95 : i * ((0.95 - 0.5) / 9) + 0.5,
);
/** np.linspace(0, 1, 101). */
const RECALL_THRESHOLDS = Array.from({ length: 101 }, (_, i) => (i === 100 ? 1 : i * 0.01));

/** One image and class: its detections and ground truths with their areas, and their similarities. */
export interface CocoImage {
  /** Detections, best score first, at most the last maxDets. */
  readonly dets: readonly { readonly score: number; readonly area: number }[];
  /** `ignore`: counted nowhere (a crowd, or for keypoints a person without a labelled keypoint). */
  readonly gts: readonly { readonly ignore: boolean; readonly crowd: boolean; readonly area: number }[];
  /** [detection][ground truth]: IoU or OKS. */
  readonly similarity: readonly (readonly number[])[];
}

/** One image and class in one area range (COCOeval.evaluateImg). */
export interface CocoImageResult {
  readonly scores: number[];
  /** [threshold][detection]: matched to a ground truth */
  readonly matched: boolean[][];
  /** [threshold][detection]: matched to an ignored ground truth, or unmatched and out of the range */
  readonly ignored: boolean[][];
  /** Ground truths not ignored. */
  readonly positives: number;
}

/** COCOeval.evaluateImg in the area range [low, high]; null without detections and ground truths. */
export function evaluateCocoImage(
  im: CocoImage,
  [low, high]: readonly [number, number],
): CocoImageResult | null {
  if (im.dets.length === 0 && im.gts.length === 0) return null;
  const out = (area: number): boolean => area < low || area > high;
  const isIgnored = (j: number): boolean => im.gts[j].ignore || out(im.gts[j].area);
  // Ignored ground truths (crowds, out of range) last, so a match to a real one is preferred.
  const order = im.gts.map((_, j) => j).sort((a, b) => +isIgnored(a) - +isIgnored(b));
  const gtIgnored = order.map(isIgnored);
  const crowd = order.map((j) => im.gts[j].crowd);
  const matched = COCO_THRESHOLDS.map(() => new Array<boolean>(im.dets.length).fill(false));
  const ignored = COCO_THRESHOLDS.map(() => new Array<boolean>(im.dets.length).fill(false));
  COCO_THRESHOLDS.forEach((t, ti) => {
    const taken = new Array<boolean>(order.length).fill(false);
    im.dets.forEach((_, di) => {
      let best = Math.min(t, 1 - 1e-10);
      let m = -1;
      for (let gi = 0; gi < order.length; gi++) {
        if (taken[gi] && !crowd[gi]) continue;
        // Matched to a real ground truth already: the ignored ones after it cannot replace it.
        if (m > -1 && !gtIgnored[m] && gtIgnored[gi]) break;
        const v = im.similarity[di][order[gi]];
        if (v < best) continue;
        best = v;
        m = gi;
      }
      if (m === -1) return;
      ignored[ti][di] = gtIgnored[m];
      matched[ti][di] = true;
      taken[m] = true;
    });
  });
  im.dets.forEach((d, di) => {
    if (out(d.area))
      for (let ti = 0; ti < COCO_THRESHOLDS.length; ti++) if (!matched[ti][di]) ignored[ti][di] = true;
  });
  return {
    scores: im.dets.map((d) => d.score),
    matched,
    ignored,
    positives: gtIgnored.filter((g) => !g).length,
  };
}

/** What COCOeval.accumulate gives for one class, area range and maxDet. */
export interface CocoAccumulation {
  /** [threshold][recall point]: the 101-point interpolated precision. */
  readonly precision: number[][];
  /** [threshold]: the recall reached. */
  readonly recall: number[];
}

/**
 * COCOeval.accumulate over the images' results, each image's best `maxDet` detections; null
 * without a ground truth in range.
 */
export function accumulateCoco(
  results: readonly CocoImageResult[],
  maxDet = Infinity,
): CocoAccumulation | null {
  const positives = results.reduce((s, r) => s + r.positives, 0);
  if (positives === 0) return null;
  const kept = results.flatMap((r) =>
    r.scores.slice(0, maxDet).map((score, di) => ({ score, result: r, di })),
  );
  const sorted = byScore(kept).map((i) => kept[i]);
  const precision: number[][] = [];
  const recall: number[] = [];
  COCO_THRESHOLDS.forEach((_, ti) => {
    const pr: number[] = [];
    const rc: number[] = [];
    let tp = 0;
    let fp = 0;
    for (const { result, di } of sorted) {
      if (!result.ignored[ti][di]) {
        if (result.matched[ti][di]) tp++;
        else fp++;
      }
      rc.push(tp / positives);
      pr.push(tp / (fp + tp + Number.EPSILON));
    }
    recall.push(rc.length > 0 ? rc[rc.length - 1] : 0);
    for (let i = pr.length - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
    // Precision at the first point reaching each recall threshold; 0 beyond the last recall.
    let at = 0;
    precision.push(
      RECALL_THRESHOLDS.map((r) => {
        while (at < rc.length && rc[at] < r) at++;
        return at < rc.length ? pr[at] : 0;
      }),
    );
  });
  return { precision, recall };
}

/** The mean, or COCO's -1 for none. */
export const cocoMean = (values: readonly number[]): number =>
  values.length === 0 ? -1 : values.reduce((s, v) => s + v, 0) / values.length;
