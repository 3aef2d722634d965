import { cocoEvaluate, cocoIou, type CocoResult } from './coco';
import { randomCase } from './test-fixtures';
import { EvalInputError, type EvalDetection, type EvalGroundTruth } from './types';
import { vocEvaluate } from './voc';

const gt = (box: EvalGroundTruth['box'], extra: Partial<EvalGroundTruth> = {}): EvalGroundTruth => ({
  imageId: '0',
  classIndex: 0,
  box,
  ...extra,
});
const det = (
  box: EvalDetection['box'],
  score: number,
  extra: Partial<EvalDetection> = {},
): EvalDetection => ({
  imageId: '0',
  classIndex: 0,
  box,
  score,
  ...extra,
});

function expectResult(actual: CocoResult, expected: CocoResult, digits = 12): void {
  for (const key of Object.keys(expected) as (keyof CocoResult)[]) {
    expect([key, actual[key]]).toEqual([key, expect.closeTo(expected[key], digits)]);
  }
}

const ALL_ONE = { AP: 1, AP50: 1, AP75: 1, APs: 1, APm: -1, APl: -1, AR1: 1, AR10: 1, AR100: 1 };

describe('cocoIou', () => {
  it('is maskApi bbIou on [x, y, w, h]: no +1 pixel, and the detection area as the union for a crowd', () => {
    expect(cocoIou([0, 0, 10, 10], [5, 0, 10, 10], false)).toBe(50 / 150);
    expect(cocoIou([110, 110, 10, 10], [100, 100, 100, 100], true)).toBe(1);
    expect(cocoIou([0, 0, 10, 10], [10, 0, 10, 10], false)).toBe(0);
  });
});

// Every expected number below was also produced by pycocotools 2.0.11's COCOeval (iouType bbox).
describe('cocoEvaluate', () => {
  it('scores one perfect small detection 1 and leaves the empty area ranges at -1', () => {
    expectResult(cocoEvaluate([det([0, 0, 10, 10], 0.9)], [gt([0, 0, 10, 10])], { classes: 1 }), ALL_ONE);
  });

  /*
   * A real box (10 x 10) and a crowd (100 x 100); two detections inside the crowd rank first, then
   * one on the real box. With the crowd flag both inner detections match the crowd (IoU = their
   * share inside it = 1, matched repeatedly) and are ignored: AP 1; AR1 is 0 because the one
   * detection kept per image is ignored. Without the flag the crowd is a second positive:
   * rc = 0, 0, .5 and pr = 0, 0, 1/3 give 1/3 at the 51 recall points 0 ... .50, and 0 at the other
   * 50: AP = 51 / 101 / 3 = 17/101 at every IoU. APs: the big box is out of range, the two inner
   * detections are small false positives: 1/3. APl: the small ones are out of range and ignored.
   */
  it('matches crowds repeatedly and ignores those matches', () => {
    const dets = [det([110, 110, 120, 120], 0.9), det([150, 150, 160, 160], 0.8), det([0, 0, 10, 10], 0.7)];
    expectResult(
      cocoEvaluate(dets, [gt([0, 0, 10, 10]), gt([100, 100, 200, 200], { crowd: true })], { classes: 1 }),
      { ...ALL_ONE, AR1: 0 },
    );
    expectResult(cocoEvaluate(dets, [gt([0, 0, 10, 10]), gt([100, 100, 200, 200])], { classes: 1 }), {
      AP: 17 / 101,
      AP50: 17 / 101,
      AP75: 17 / 101,
      APs: 1 / 3,
      APm: -1,
      APl: 0,
      AR1: 0,
      AR10: 0.5,
      AR100: 0.5,
    });
  });

  it('puts a ground truth in the area range of its given area, not its box', () => {
    // 100 x 100 box, area 500: small. In the large range it and its detection are both ignored.
    const result = cocoEvaluate([det([0, 0, 100, 100], 0.9)], [gt([0, 0, 100, 100], { area: 500 })], {
      classes: 1,
    });
    expectResult(result, ALL_ONE);
  });

  it('ignores an unmatched detection outside the area range', () => {
    // A large false positive first: AP .5 over all areas, but no effect on the small range.
    const dets = [det([100, 100, 300, 300], 0.9), det([0, 0, 10, 10], 0.8)];
    expectResult(cocoEvaluate(dets, [gt([0, 0, 10, 10])], { classes: 1 }), {
      AP: 0.5,
      AP50: 0.5,
      AP75: 0.5,
      APs: 1,
      APm: -1,
      APl: -1,
      AR1: 0,
      AR10: 1,
      AR100: 1,
    });
  });

  it('counts a detection on an image without ground truth as false, and leaves out a class without any', () => {
    // Class 0: .95 on image 1 (none there) then two hits: precision 2/3 at every recall. Class 1
    // has a detection but no ground truth: -1, out of the means. AR1: one of two per image.
    const dets = [
      det([0, 0, 50, 50], 0.9),
      det([100, 0, 150, 50], 0.8),
      det([0, 0, 50, 50], 0.95, { imageId: '1' }),
      det([0, 0, 50, 50], 0.99, { classIndex: 1 }),
    ];
    expectResult(cocoEvaluate(dets, [gt([0, 0, 50, 50]), gt([100, 0, 150, 50])], { classes: 2 }), {
      AP: 2 / 3,
      AP50: 2 / 3,
      AP75: 2 / 3,
      APs: -1,
      APm: 2 / 3,
      APl: -1,
      AR1: 0.5,
      AR10: 1,
      AR100: 1,
    });
  });

  it('gives 0 without detections and -1 without ground truth', () => {
    expectResult(cocoEvaluate([], [gt([0, 0, 10, 10])], { classes: 1 }), {
      AP: 0,
      AP50: 0,
      AP75: 0,
      APs: 0,
      APm: -1,
      APl: -1,
      AR1: 0,
      AR10: 0,
      AR100: 0,
    });
    const none = { AP: -1, AP50: -1, AP75: -1, APs: -1, APm: -1, APl: -1, AR1: -1, AR10: -1, AR100: -1 };
    expect(cocoEvaluate([det([0, 0, 10, 10], 0.9)], [], { classes: 3 })).toEqual(none);
    expect(cocoEvaluate([], [], { classes: 1 })).toEqual(none);
  });

  // randomCase(seed, ...): 2 to 4 classes, crowds, given areas, all three ranges; seed 3 has 150
  // extra detections on one image (past maxDets 100), seed 4 runs with maxDets [1, 3, 5] (AP here
  // at maxDets[2]; pycocotools' stats[0] asks for 100 literally and would say -1).
  it.each([
    [
      randomCase(1),
      undefined,
      {
        AP: 0.2120213442912919,
        AP50: 0.6244014107293082,
        AP75: 0.011881188118811881,
        APs: 0.22692869286928694,
        APm: 0.23325082508250825,
        APl: 0.09166666666666666,
        AR1: 0.1548118548118548,
        AR10: 0.27076257076257076,
        AR100: 0.27076257076257076,
      },
    ],
    [
      randomCase(2, 4, 8),
      undefined,
      {
        AP: 0.17833021214209335,
        AP50: 0.5091422088637435,
        AP75: 0.027652765276527647,
        APs: 0.163017180838963,
        APm: 0.22063344727329876,
        APl: 0.32524752475247526,
        AR1: 0.0965307486631016,
        AR10: 0.3460071301247772,
        AR100: 0.3460071301247772,
      },
    ],
    [
      randomCase(3, 2, 5, true),
      undefined,
      {
        AP: 0.108683295618841,
        AP50: 0.3597020449708523,
        AP75: 0.007425742574257425,
        APs: 0.1496014793787071,
        APm: 0.06686129139229711,
        APl: 0.19999999999999998,
        AR1: 0.1613095238095238,
        AR10: 0.2851190476190476,
        AR100: 0.2851190476190476,
      },
    ],
    [
      randomCase(4),
      [1, 3, 5] as const,
      {
        AP: 0.161994040063347,
        AP50: 0.4926735897032927,
        AP75: 0.04968830216354969,
        APs: 0.21917491749174914,
        APm: 0.18052805280528053,
        APl: 0.11683168316831684,
        AR1: 0.08404558404558404,
        AR10: 0.24273504273504273,
        AR100: 0.26866096866096867,
      },
    ],
  ])('agrees with pycocotools on random case %#', (c, maxDets, expected) => {
    expectResult(cocoEvaluate(c.detections, c.groundTruths, { classes: c.classes, maxDets }), expected);
  });

  it('evaluates a large set', () => {
    const c = randomCase(9, 20, 400);
    const result = cocoEvaluate(c.detections, c.groundTruths, { classes: 20 });
    for (const v of Object.values(result)) expect(v >= 0 && v <= 1).toBe(true);
  });

  it('refuses maxDets that are not 3 increasing positive integers', () => {
    for (const maxDets of [
      [0, 10, 100],
      [10, 1, 100],
      [1, 10, 1.5],
      [1, 10],
    ]) {
      expect(() =>
        cocoEvaluate([], [], { classes: 1, maxDets: maxDets as unknown as [number, number, number] }),
      ).toThrow(`options.maxDets: expected 3 increasing positive integers, got ${JSON.stringify(maxDets)}`);
    }
  });
});

describe.each([
  [
    'vocEvaluate',
    (d: EvalDetection[], g: EvalGroundTruth[], classes = 2) =>
      vocEvaluate(d, g, { classes, use07Metric: true }),
  ],
  [
    'cocoEvaluate',
    (d: EvalDetection[], g: EvalGroundTruth[], classes = 2) => cocoEvaluate(d, g, { classes }),
  ],
])('%s refuses bad input, naming the box, the field and the value', (_, evaluate) => {
  const ok = det([0, 0, 10, 10], 0.5);
  it.each([
    [[ok, det([0, 0, 10, 10], NaN)], [], 'detections[1].score: expected a finite number, got NaN'],
    [[det([0, 0, 10, 10], Infinity)], [], 'detections[0].score: expected a finite number, got Infinity'],
    [[det([10, 0, 0, 10], 0.5)], [], 'detections[0].box: expected x2 >= x1 and y2 >= y1, got [10,0,0,10]'],
    [[], [gt([0, 10, 10, 0])], 'groundTruths[0].box: expected x2 >= x1 and y2 >= y1, got [0,10,10,0]'],
    [
      [det([0, 0, 10, 10], 0.5, { classIndex: 2 })],
      [],
      'detections[0].classIndex: expected an integer in [0, 2), got 2',
    ],
    [
      [],
      [gt([0, 0, 1, 1], { classIndex: -1 })],
      'groundTruths[0].classIndex: expected an integer in [0, 2), got -1',
    ],
    [
      [det([0, 0, 1, 1], 0.5, { classIndex: 0.5 })],
      [],
      'detections[0].classIndex: expected an integer in [0, 2), got 0.5',
    ],
    [
      [det([0, NaN, 1, 1], 0.5)],
      [],
      'detections[0].box[1]: expected a finite number in [-1e9, 1e9], got NaN',
    ],
    [
      [det([0, 0, 1e300, 1e300], 0.5)],
      [],
      'detections[0].box[2]: expected a finite number in [-1e9, 1e9], got 1e+300',
    ],
    [
      [{ ...ok, box: [0, 0, 1] as unknown as EvalDetection['box'] }],
      [],
      'detections[0].box: expected [x1, y1, x2, y2], got [0,0,1]',
    ],
    [[{ ...ok, imageId: 7 as unknown as string }], [], 'detections[0].imageId: expected a string, got 7'],
    [[], [gt([0, 0, 1, 1], { area: -1 })], 'groundTruths[0].area: expected a finite number >= 0, got -1'],
  ])('%#', (dets, gts, message) => {
    expect(() => evaluate(dets as EvalDetection[], gts as EvalGroundTruth[])).toThrow(EvalInputError);
    expect(() => evaluate(dets as EvalDetection[], gts as EvalGroundTruth[])).toThrow(message);
  });

  it('refuses a class count that is not a positive integer', () => {
    expect(() => evaluate([], [], 0)).toThrow('options.classes: expected a positive integer, got 0');
  });

  it('takes hostile image ids as plain keys', () => {
    const id = '__proto__';
    const result = evaluate([{ ...ok, imageId: id }], [gt([0, 0, 10, 10], { imageId: id })], 1);
    expect('mAP' in result ? result.mAP : result.AP).toBeCloseTo(1, 12);
  });
});
