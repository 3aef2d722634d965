import { randomCase } from './test-fixtures';
import type { EvalDetection, EvalGroundTruth } from './types';
import { referenceIou, vocAp11, vocApArea, vocEvaluate } from './voc';

const gt = (
  imageId: string,
  box: EvalGroundTruth['box'],
  extra: Partial<EvalGroundTruth> = {},
): EvalGroundTruth => ({
  imageId,
  classIndex: 0,
  box,
  ...extra,
});
const det = (imageId: string, box: EvalDetection['box'], score: number, classIndex = 0): EvalDetection => ({
  imageId,
  classIndex,
  box,
  score,
});

/*
 * Three ground truths (G1, G2 in image a; G3 in b) and four detections, by score:
 *   d1 0.9 on G1            TP  tp=1 fp=0  P=1    R=1/3
 *   d2 0.8 on nothing       FP  tp=1 fp=1  P=1/2  R=1/3
 *   d3 0.7 on G3 (IoU .9)   TP  tp=2 fp=1  P=2/3  R=2/3
 *   d4 0.6 on G1 again      FP  tp=2 fp=2  P=1/2  R=2/3     (G2 is never found)
 * 11-point: t = 0, .1, .2, .3 (0.30000000000000004 <= 1/3) take max P = 1; t = .4, .5, .6 take
 *   2/3; t = .7 ... 1 have no point, 0. AP = (4 * 1 + 3 * 2/3) / 11 = 6/11.
 * All-point: envelope P = 1, 2/3, 2/3, 1/2 at R = 1/3, 1/3, 2/3, 2/3; area = 1/3 * 1 + 1/3 * 2/3
 *   + 1/3 * 0 (from 2/3 to 1) = 5/9.
 */
const G = [gt('a', [0, 0, 10, 10]), gt('a', [20, 20, 30, 30]), gt('b', [0, 0, 10, 10])];
const D = [
  det('a', [0, 0, 10, 10], 0.9),
  det('a', [50, 50, 60, 60], 0.8),
  det('b', [1, 0, 10, 10], 0.7),
  det('a', [0, 1, 10, 10], 0.6),
];

describe('referenceIou', () => {
  it('uses continuous areas (no +1 pixel) and adds 1e-5 to the union, as box_utils.iou_of', () => {
    expect(referenceIou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(100 / (100 + 1e-5));
    expect(referenceIou([0, 0, 10, 10], [5, 0, 15, 10])).toBe(50 / (150 + 1e-5));
    expect(referenceIou([0, 0, 10, 10], [10, 0, 20, 10])).toBe(0);
    expect(referenceIou([0, 0, 0, 0], [0, 0, 0, 0])).toBe(0);
  });
});

describe('vocAp11 and vocApArea', () => {
  it('give the hand-computed APs of a precision/recall curve', () => {
    const precision = [1, 1 / 2, 2 / 3, 1 / 2];
    const recall = [1 / 3, 1 / 3, 2 / 3, 2 / 3];
    expect(vocAp11(precision, recall)).toBeCloseTo(6 / 11, 14);
    expect(vocApArea(precision, recall)).toBeCloseTo(5 / 9, 14);
  });

  it('take the thresholds as numpy arange does: a recall of exactly 0.3 misses t = 0.3', () => {
    // t = 0.1, 0.2 and 0 reach it; 3 * 0.1 = 0.30000000000000004 does not.
    expect(vocAp11([1], [0.3])).toBeCloseTo(3 / 11, 14);
  });

  it('give 0 for an empty curve', () => {
    expect(vocAp11([], [])).toBe(0);
    expect(vocApArea([], [])).toBe(0);
  });
});

describe('vocEvaluate', () => {
  it('matches the hand-computed 11-point and all-point AP', () => {
    expect(vocEvaluate(D, G, { classes: 1, use07Metric: true }).ap[0]).toBeCloseTo(6 / 11, 14);
    expect(vocEvaluate(D, G, { classes: 1, use07Metric: false }).ap[0]).toBeCloseTo(5 / 9, 14);
  });

  it('ignores a detection of a difficult ground truth and leaves difficult ones out of the positives', () => {
    // The best detection hits a difficult box: neither TP nor FP (the reference's 0/0 precision
    // there made its 11-point AP NaN; here that point counts 0 and the APs stay as above).
    const gts = [...G, gt('b', [40, 40, 50, 50], { difficult: true })];
    const dets = [...D, det('b', [40, 40, 50, 50], 0.95)];
    expect(vocEvaluate(dets, gts, { classes: 1, use07Metric: true }).ap[0]).toBeCloseTo(6 / 11, 14);
    expect(vocEvaluate(dets, gts, { classes: 1, use07Metric: false }).ap[0]).toBeCloseTo(5 / 9, 14);
  });

  it('counts a hit only above the IoU threshold, strictly', () => {
    const gts = [gt('a', [0, 0, 10, 10])];
    // IoU 50 / (100 + 1e-5) is below 0.5: a false positive at 0.5, a hit at 0.4.
    const dets = [det('a', [0, 0, 10, 5], 0.9)];
    expect(vocEvaluate(dets, gts, { classes: 1, use07Metric: false }).ap[0]).toBe(0);
    expect(vocEvaluate(dets, gts, { classes: 1, use07Metric: false, iouThreshold: 0.4 }).ap[0]).toBe(1);
  });

  it('matches a detection to its image and class only', () => {
    const gts = [gt('a', [0, 0, 10, 10]), { ...gt('a', [0, 0, 10, 10]), classIndex: 1 }];
    const dets = [det('b', [0, 0, 10, 10], 0.9), det('a', [0, 0, 10, 10], 0.8, 1)];
    expect(vocEvaluate(dets, gts, { classes: 2, use07Metric: false }).ap).toEqual([0, 1]);
  });

  it('gives 0 without detections, and NaN left out of the mean for a class without positives', () => {
    const gts = [gt('a', [0, 0, 10, 10]), { ...gt('a', [5, 5, 9, 9], { difficult: true }), classIndex: 2 }];
    const dets = [det('a', [0, 0, 10, 10], 0.9), det('a', [0, 0, 10, 10], 0.9, 1)];
    const result = vocEvaluate(dets, gts, { classes: 3, use07Metric: true });
    expect(result.ap[0]).toBeCloseTo(1, 14);
    expect(result.ap.slice(1)).toEqual([NaN, NaN]);
    expect(result.mAP).toBeCloseTo(1, 14);
    expect(vocEvaluate([], gts, { classes: 3, use07Metric: true }).ap[0]).toBe(0);
    expect(vocEvaluate([], gts, { classes: 3, use07Metric: false }).mAP).toBe(0);
    expect(vocEvaluate([], [], { classes: 2, use07Metric: false })).toEqual({ ap: [NaN, NaN], mAP: NaN });
  });

  // Pinned from the authors' code (`eval_metrics.py`, `measurements.py`, `box_utils.iou_of`) run with
  // numpy in place of torch on randomCase(seed), crowd read as difficult.
  it.each([
    [1, true, [0.6666666666666666, 0.5212121212121212, 0.6250000000000001]],
    [1, false, [0.7202380952380952, 0.5330316742081448, 0.625]],
    [2, true, [0.6038961038961038, 0.4090909090909091, 0.5113636363636364, 0.4791666666666667]],
    [2, false, [0.5821428571428573, 0.421875, 0.5514705882352942, 0.47916666666666663]],
    [3, true, [0.028708133971291867, 0.6727272727272728]],
    [3, false, [0.030257230915125652, 0.6857142857142856]],
    [4, true, [0.4359504132231405, 0.4480519480519481, 0.5498057498057498]],
    [4, false, [0.4633838383838384, 0.4365079365079365, 0.5783037475345167]],
  ])('agrees with the reference on random case %i (11-point %s)', (seed, use07Metric, expected) => {
    const c = seed === 2 ? randomCase(2, 4, 8) : seed === 3 ? randomCase(3, 2, 5, true) : randomCase(seed);
    const gts = c.groundTruths.map((g) => ({ ...g, difficult: g.crowd }));
    const { ap, mAP } = vocEvaluate(c.detections, gts, { classes: c.classes, use07Metric });
    ap.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
    expect(mAP).toBeCloseTo(expected.reduce((s, v) => s + v, 0) / expected.length, 12);
  });

  it('ranks equal scores in input order', () => {
    // Both detections sit on the one box: the first given is the hit, the second the repeat.
    const gts = [gt('a', [0, 0, 10, 10])];
    const dets = [det('a', [0, 0, 10, 10], 0.5), det('a', [0, 0, 10, 10], 0.5)];
    expect(vocEvaluate(dets, gts, { classes: 1, use07Metric: false }).ap[0]).toBe(1);
  });

  it('evaluates a large set', () => {
    const c = randomCase(9, 20, 400);
    const { ap, mAP } = vocEvaluate(c.detections, c.groundTruths, { classes: 20, use07Metric: true });
    expect(ap).toHaveLength(20);
    expect(mAP).toBeGreaterThan(0);
    expect(mAP).toBeLessThanOrEqual(1);
  });
});
