import {
  keypointEvaluate,
  objectKeypointSimilarity,
  percentCorrectKeypoints,
  type KeypointDetection,
  type KeypointGroundTruth,
} from './metrics';

const SIGMAS = [0.1, 0.1, 0.1];

function truth(imageId: string, keypoints: number[], area = 100, extra: Partial<KeypointGroundTruth> = {}) {
  return { imageId, keypoints, box: [0, 0, 10, 10] as [number, number, number, number], area, ...extra };
}

/** The truth's keypoints moved by (dx, dy), each with score 1. */
function moved(g: KeypointGroundTruth, dx: number, dy: number, score = 1): KeypointDetection {
  const k = Array.from(g.keypoints);
  for (let o = 0; o < k.length; o += 3) {
    k[o] += dx;
    k[o + 1] += dy;
    k[o + 2] = 1;
  }
  return { imageId: g.imageId, keypoints: k, score };
}

const PERSON = truth('a', [2, 3, 2, 5, 5, 1, 8, 9, 2]);

describe('objectKeypointSimilarity', () => {
  it('is 1 for a perfect prediction and exp(-d^2 / (2 area (2 sigma)^2)) when shifted', () => {
    expect(objectKeypointSimilarity(moved(PERSON, 0, 0).keypoints, PERSON, SIGMAS)).toBe(1);
    // d² = 4 on every keypoint: 4 / 0.04 / 100 / 2 = 0.5.
    expect(objectKeypointSimilarity(moved(PERSON, 2, 0).keypoints, PERSON, SIGMAS)).toBeCloseTo(
      Math.exp(-0.5),
      12,
    );
    // Per-keypoint sigmas: the same shift costs more on the tighter one.
    const mixed = objectKeypointSimilarity(moved(PERSON, 0, 2).keypoints, PERSON, [0.1, 0.2, 0.05]);
    expect(mixed).toBeCloseTo((Math.exp(-0.5) + Math.exp(-0.125) + Math.exp(-2)) / 3, 12);
  });

  it('averages over labelled keypoints only', () => {
    const partial = truth('a', [2, 3, 2, 5, 5, 0, 8, 9, 1]);
    const det = Float32Array.from(moved(partial, 2, 0).keypoints);
    det[3] = 1000;
    expect(objectKeypointSimilarity(det, partial, SIGMAS)).toBeCloseTo(Math.exp(-0.5), 12);
  });

  it('measures from the grown box when the truth has no labelled keypoint', () => {
    const none = truth('a', [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Box [0, 0, 10, 10] grown to [-10, 20]: inside it counts 0, 25 lies 5 beyond.
    expect(objectKeypointSimilarity([5, 5, 1, -3, 15, 1, 25, 5, 1], none, SIGMAS)).toBeCloseTo(
      (1 + 1 + Math.exp(-25 / 0.04 / 100 / 2)) / 3,
      12,
    );
  });
});

describe('keypointEvaluate', () => {
  it('gives AP 1 for perfect predictions', () => {
    const b = truth('b', [1, 1, 2, 4, 4, 2, 6, 6, 2], 2000);
    const r = keypointEvaluate([moved(PERSON, 0, 0, 0.9), moved(b, 0, 0, 0.3)], [PERSON, b], {
      sigmas: SIGMAS,
    });
    // pycocotools divides tp by tp + fp + eps: a perfect precision is 1 - 2^-53.
    const want = { AP: 1, AP50: 1, AP75: 1, APm: 1, APl: -1, AR: 1 };
    for (const [name, v] of Object.entries(want)) expect(r[name as keyof typeof want]).toBeCloseTo(v, 12);
  });

  it('counts a shifted prediction at the OKS thresholds it reaches: OKS 0.6065 passes .50, .55, .60', () => {
    const r = keypointEvaluate([moved(PERSON, 2, 0)], [PERSON], { sigmas: SIGMAS });
    expect(r.AP).toBeCloseTo(0.3, 12);
    expect(r.AP50).toBeCloseTo(1, 12);
    expect(r.AP75).toBe(0);
    expect(r.AR).toBeCloseTo(0.3, 12);
  });

  it('ranks by score across images: a better-scored false positive halves the precision', () => {
    const fp = { ...moved(PERSON, 0, 0, 0.9), imageId: 'z' };
    const r = keypointEvaluate([moved(PERSON, 0, 0, 0.5), fp], [PERSON], { sigmas: SIGMAS });
    expect(r.AP).toBeCloseTo(0.5, 12);
    // Scored below the true positive it costs nothing.
    expect(
      keypointEvaluate([moved(PERSON, 0, 0, 0.5), { ...fp, score: 0.1 }], [PERSON], { sigmas: SIGMAS }).AP,
    ).toBeCloseTo(1, 12);
  });

  it('keeps each image’s best maxDets detections', () => {
    const other = truth('a', [20, 20, 2, 22, 22, 2, 24, 24, 2]);
    const dets = [moved(PERSON, 0, 0, 0.9), moved(other, 0, 0, 0.8)];
    expect(keypointEvaluate(dets, [PERSON, other], { sigmas: SIGMAS }).AP).toBeCloseTo(1, 12);
    // One detection: recall 0.5, precision 1 up to it and 0 beyond: 51 of 101 points.
    expect(keypointEvaluate(dets, [PERSON, other], { sigmas: SIGMAS, maxDets: 1 }).AP).toBeCloseTo(
      51 / 101,
      12,
    );
  });

  it('ignores crowds and persons without a labelled keypoint', () => {
    const crowd = truth('a', [20, 20, 2, 22, 22, 2, 24, 24, 2], 100, { crowd: true });
    const empty = truth('a', [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const r = keypointEvaluate([moved(PERSON, 0, 0, 0.5), moved(crowd, 0, 0, 0.9)], [PERSON, crowd, empty], {
      sigmas: SIGMAS,
    });
    expect(r.AP).toBeCloseTo(1, 12);
    expect(keypointEvaluate([], [empty], { sigmas: SIGMAS }).AP).toBe(-1);
    expect(keypointEvaluate([], [], { sigmas: SIGMAS })).toEqual({
      AP: -1,
      AP50: -1,
      AP75: -1,
      APm: -1,
      APl: -1,
      AR: -1,
    });
    expect(keypointEvaluate([], [PERSON], { sigmas: SIGMAS }).AP).toBe(0);
  });

  it.each([
    [
      [{ ...PERSON, keypoints: [1, 2, 2] }],
      [],
      /groundTruths\[0\].keypoints: expected 9 numbers \(3 keypoints\), got 3/,
    ],
    [
      [{ ...PERSON, keypoints: [1, 2, 3, 0, 0, 0, 0, 0, 0] }],
      [],
      /groundTruths\[0\].keypoints\[2\]: expected a visibility flag 0, 1 or 2, got 3/,
    ],
    [
      [{ ...PERSON, keypoints: [1, NaN, 2, 0, 0, 0, 0, 0, 0] }],
      [],
      /groundTruths\[0\].keypoints\[1\]: expected a finite number/,
    ],
    [[{ ...PERSON, keypoints: 'abc' }], [], /groundTruths\[0\].keypoints: expected 9 numbers/],
    [[{ ...PERSON, area: -1 }], [], /groundTruths\[0\].area: expected a finite number >= 0, got -1/],
    [[{ ...PERSON, box: [0, 0, -1, 2] }], [], /groundTruths\[0\].box: expected w >= 0 and h >= 0/],
    [[{ ...PERSON, imageId: 3 }], [], /groundTruths\[0\].imageId: expected a string, got 3/],
    [
      [],
      [{ ...moved(PERSON, 0, 0), score: NaN }],
      /detections\[0\].score: expected a finite number, got NaN/,
    ],
    [
      [],
      [{ ...moved(PERSON, 0, 0), keypoints: new Array(9000).fill(1) }],
      /detections\[0\].keypoints: expected 9 numbers/,
    ],
    [
      [],
      [{ ...moved(PERSON, 0, 0), keypoints: [1e300, 0, 1, 0, 0, 1, 0, 0, 1] }],
      /detections\[0\].keypoints\[0\]: expected a finite number in \[-1e9, 1e9\]/,
    ],
  ])('refuses malformed input %#', (truths, dets, message) => {
    expect(() =>
      keypointEvaluate(dets as KeypointDetection[], truths as KeypointGroundTruth[], { sigmas: SIGMAS }),
    ).toThrow(message);
  });

  it('refuses bad options', () => {
    expect(() => keypointEvaluate([], [], { sigmas: [] })).toThrow(
      /options.sigmas: expected a positive number per keypoint/,
    );
    expect(() => keypointEvaluate([], [], { sigmas: [0.1, -1] })).toThrow(/options.sigmas/);
    expect(() => keypointEvaluate([], [], { sigmas: SIGMAS, maxDets: 0 })).toThrow(
      /options.maxDets: expected a positive integer, got 0/,
    );
  });
});

describe('percentCorrectKeypoints', () => {
  it('is 1 for perfect predictions and counts labelled keypoints within 0.2 of the larger box side', () => {
    const g = {
      keypoints: [0, 0, 2, 10, 10, 1, 20, 20, 0, 30, 30, 2],
      box: [0, 0, 100, 50] as [number, number, number, number],
    };
    expect(percentCorrectKeypoints([g.keypoints], [g])).toBe(1);
    // Limit 0.2 * 100 = 20: 19 in, 21 out, the unlabelled one ignored however far, exactly 20 in.
    const p = [19, 0, 1, 10, 31, 1, 900, 900, 1, 42, 46, 1];
    expect(percentCorrectKeypoints([p], [g])).toBeCloseTo(2 / 3, 12);
    expect(percentCorrectKeypoints([p], [g], 0.1)).toBe(0);
  });

  it('is -1 without labelled keypoints and refuses mismatched input', () => {
    const g = { keypoints: [0, 0, 0], box: [0, 0, 10, 10] as [number, number, number, number] };
    expect(percentCorrectKeypoints([[1, 1, 1]], [g])).toBe(-1);
    expect(percentCorrectKeypoints([], [])).toBe(-1);
    expect(() => percentCorrectKeypoints([], [g])).toThrow(
      /predictions: expected one per ground truth \(1\), got 0/,
    );
    expect(() => percentCorrectKeypoints([[1, 1]], [g])).toThrow(
      /predictions\[0\]: expected 3 numbers, got 2/,
    );
    expect(() => percentCorrectKeypoints([[1, 1, 1]], [g], 0)).toThrow(
      /fraction: expected a positive number, got 0/,
    );
  });
});
