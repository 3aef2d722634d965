// COCO box AP/AR as pycocotools' COCOeval computes them (iouType 'bbox', useCats 1): evaluate,
// accumulate and summarize, step for step, so that its numbers can be compared with published ones.
import { byClassAndImage, byScore, checkEvalInputs, type EvalDetection, type EvalGroundTruth } from './types';

export interface CocoOptions {
  /** Object classes (background excluded); class indices are in [0, classes). */
  classes: number;
  /** Detections per image kept, best score first, for AR1, AR10 and AR100 (AP uses the last) [1, 10, 100]. */
  maxDets?: readonly [number, number, number];
}

/** COCOeval.stats[0..8]; -1 where no class has a ground truth in the area range. */
export interface CocoResult {
  /** AP at IoU .50:.05:.95, all areas, maxDets[2]. */
  AP: number;
  AP50: number;
  AP75: number;
  /** Area < 32². */
  APs: number;
  /** 32² <= area <= 96². */
  APm: number;
  /** Area > 96². */
  APl: number;
  AR1: number;
  AR10: number;
  AR100: number;
}

/** np.linspace(.5, .95, 10): i * step + start with the last set to stop, to the last bit. */
const IOU_THRESHOLDS = Array.from({ length: 10 }, (_, i) => (i === 9 ? 0.95 : i * ((0.95 - 0.5) / 9) + 0.5));
/** np.linspace(0, 1, 101). */
const RECALL_THRESHOLDS = Array.from({ length: 101 }, (_, i) => (i === 100 ? 1 : i * 0.01));
/** all, small, medium, large: a box is out of a range when area < low or area > high. */
const AREA_RANGES = [
  [0, 1e10],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e10],
] as const;

type Xywh = readonly [number, number, number, number];

const toXywh = (b: readonly number[]): Xywh => [b[0], b[1], b[2] - b[0], b[3] - b[1]];

/**
 * maskApi.c's bbIou on [x, y, w, h] boxes: no +1 pixel; for a crowd ground truth the union is the
 * detection's area alone (the share of the detection inside the crowd).
 */
export function cocoIou(d: Xywh, g: Xywh, crowd: boolean): number {
  const w = Math.min(d[2] + d[0], g[2] + g[0]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[3] + d[1], g[3] + g[1]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2] * d[3];
  return i / (crowd ? da : da + g[2] * g[3] - i);
}

interface ImageClass {
  /** Detections, best score first, at most the last maxDets. */
  dets: { score: number; area: number }[];
  gts: { crowd: boolean; area: number }[];
  /** [detection][ground truth] */
  ious: number[][];
}

/** One image and class in one area range (COCOeval.evaluateImg), or null without boxes. */
interface ImageResult {
  scores: number[];
  /** [threshold][detection]: matched to a ground truth */
  matched: boolean[][];
  /** [threshold][detection]: matched to an ignored ground truth, or unmatched and out of the range */
  ignored: boolean[][];
  /** Ground truths not ignored. */
  positives: number;
}

function evaluateImage(ic: ImageClass, [low, high]: readonly [number, number]): ImageResult | null {
  if (ic.dets.length === 0 && ic.gts.length === 0) return null;
  const out = (area: number): boolean => area < low || area > high;
  const isIgnored = (j: number): boolean => ic.gts[j].crowd || out(ic.gts[j].area);
  // Ignored ground truths (crowds, out of range) last, so a match to a real one is preferred.
  const order = ic.gts.map((_, j) => j).sort((a, b) => +isIgnored(a) - +isIgnored(b));
  const gtIgnored = order.map(isIgnored);
  const crowd = order.map((j) => ic.gts[j].crowd);
  const matched = IOU_THRESHOLDS.map(() => new Array<boolean>(ic.dets.length).fill(false));
  const ignored = IOU_THRESHOLDS.map(() => new Array<boolean>(ic.dets.length).fill(false));
  IOU_THRESHOLDS.forEach((t, ti) => {
    const gtTaken = new Array<boolean>(order.length).fill(false);
    ic.dets.forEach((_, di) => {
      let iou = Math.min(t, 1 - 1e-10);
      let m = -1;
      for (let gi = 0; gi < order.length; gi++) {
        if (gtTaken[gi] && !crowd[gi]) continue;
        // Matched to a real ground truth already: the ignored ones after it cannot replace it.
        if (m > -1 && !gtIgnored[m] && gtIgnored[gi]) break;
        const v = ic.ious[di][order[gi]];
        if (v < iou) continue;
        iou = v;
        m = gi;
      }
      if (m === -1) return;
      ignored[ti][di] = gtIgnored[m];
      matched[ti][di] = true;
      gtTaken[m] = true;
    });
  });
  ic.dets.forEach((d, di) => {
    if (out(d.area))
      for (let ti = 0; ti < IOU_THRESHOLDS.length; ti++) if (!matched[ti][di]) ignored[ti][di] = true;
  });
  return {
    scores: ic.dets.map((d) => d.score),
    matched,
    ignored,
    positives: gtIgnored.filter((g) => !g).length,
  };
}

/**
 * COCOeval.accumulate for one class, area range and maxDet: the 101-point interpolated precision
 * per IoU threshold ([threshold][recall point]) and the recall reached, or null without a
 * ground truth in range.
 */
function accumulate(
  results: readonly ImageResult[],
  maxDet: number,
): { precision: number[][]; recall: number[] } | null {
  const positives = results.reduce((s, r) => s + r.positives, 0);
  if (positives === 0) return null;
  const kept = results.flatMap((r) =>
    r.scores.slice(0, maxDet).map((score, di) => ({ score, result: r, di })),
  );
  const sorted = byScore(kept).map((i) => kept[i]);
  const precision: number[][] = [];
  const recall: number[] = [];
  IOU_THRESHOLDS.forEach((_, ti) => {
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

const mean = (values: readonly number[]): number =>
  values.length === 0 ? -1 : values.reduce((s, v) => s + v, 0) / values.length;

/**
 * COCO's summary. Images are those named by a ground truth or a detection (a detection on an image
 * without ground truth is a false positive), taken in sorted id order as COCOeval sorts its image
 * ids (it decides only ties of score between images). A class without a ground truth in an area
 * range is left out of that range's means; -1 when no class is left.
 */
export function cocoEvaluate(
  detections: readonly EvalDetection[],
  groundTruths: readonly EvalGroundTruth[],
  options: CocoOptions,
): CocoResult {
  const { classes, maxDets = [1, 10, 100] } = options;
  checkEvalInputs(detections, groundTruths, classes);
  if (
    !Array.isArray(maxDets) ||
    maxDets.length !== 3 ||
    !maxDets.every((m, i) => Number.isInteger(m) && m >= 1 && (i === 0 || m >= maxDets[i - 1]))
  )
    throw new Error(
      `options.maxDets: expected 3 increasing positive integers, got ${JSON.stringify(maxDets)}`,
    );
  const maxDet = maxDets[2];
  const images = [...new Set([...groundTruths, ...detections].map((b) => b.imageId))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const gtsByClass = byClassAndImage(groundTruths, classes);
  const detsByClass = byClassAndImage(detections, classes);
  // [area][maxDets index] -> per class: precision [threshold][recall point] and recall [threshold], or null
  const perClass = AREA_RANGES.map(() => maxDets.map(() => [] as ReturnType<typeof accumulate>[]));
  for (let c = 0; c < classes; c++) {
    const imageClasses = images.map((id): ImageClass => {
      const gts = gtsByClass[c].get(id) ?? [];
      const allDets = detsByClass[c].get(id) ?? [];
      const dets = byScore(allDets)
        .slice(0, maxDet)
        .map((i) => allDets[i]);
      const gtBoxes = gts.map((g) => toXywh(g.box));
      return {
        dets: dets.map((d) => {
          const [, , w, h] = toXywh(d.box);
          return { score: d.score, area: w * h };
        }),
        gts: gts.map((g, j) => ({ crowd: g.crowd === true, area: g.area ?? gtBoxes[j][2] * gtBoxes[j][3] })),
        ious: dets.map((d) => gtBoxes.map((g, j) => cocoIou(toXywh(d.box), g, gts[j].crowd === true))),
      };
    });
    AREA_RANGES.forEach((range, a) => {
      const results = imageClasses.map((ic) => evaluateImage(ic, range)).filter((r) => r !== null);
      maxDets.forEach((m, mi) => perClass[a][mi].push(accumulate(results, m)));
    });
  }
  const ap = (a: number, threshold?: number): number =>
    mean(
      perClass[a][2].flatMap((k) =>
        k === null ? [] : (threshold === undefined ? k.precision : [k.precision[threshold]]).flat(),
      ),
    );
  const ar = (mi: number): number => mean(perClass[0][mi].flatMap((k) => (k === null ? [] : k.recall)));
  return {
    AP: ap(0),
    AP50: ap(0, 0),
    AP75: ap(0, 5),
    APs: ap(1),
    APm: ap(2),
    APl: ap(3),
    AR1: ar(0),
    AR10: ar(1),
    AR100: ar(2),
  };
}
