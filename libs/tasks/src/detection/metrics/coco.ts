// COCO box AP/AR as pycocotools' COCOeval computes them (iouType 'bbox', useCats 1): evaluate,
// accumulate and summarize, step for step, so that its numbers can be compared with published ones.
import { accumulateCoco, cocoMean, evaluateCocoImage, type CocoImage } from './cocoeval';
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
  const perClass = AREA_RANGES.map(() => maxDets.map(() => [] as ReturnType<typeof accumulateCoco>[]));
  for (let c = 0; c < classes; c++) {
    const imageClasses = images.map((id): CocoImage => {
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
        gts: gts.map((g, j) => ({
          ignore: g.crowd === true,
          crowd: g.crowd === true,
          area: g.area ?? gtBoxes[j][2] * gtBoxes[j][3],
        })),
        similarity: dets.map((d) => gtBoxes.map((g, j) => cocoIou(toXywh(d.box), g, gts[j].crowd === true))),
      };
    });
    AREA_RANGES.forEach((range, a) => {
      const results = imageClasses.map((ic) => evaluateCocoImage(ic, range)).filter((r) => r !== null);
      maxDets.forEach((m, mi) => perClass[a][mi].push(accumulateCoco(results, m)));
    });
  }
  const ap = (a: number, threshold?: number): number =>
    cocoMean(
      perClass[a][2].flatMap((k) =>
        k === null ? [] : (threshold === undefined ? k.precision : [k.precision[threshold]]).flat(),
      ),
    );
  const ar = (mi: number): number => cocoMean(perClass[0][mi].flatMap((k) => (k === null ? [] : k.recall)));
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
