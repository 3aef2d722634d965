import { matchPriors } from './matching';

// Four quadrant priors of side 0.5, then a smaller one inside the first quadrant.
const PRIORS = Float32Array.from([
  0.25, 0.25, 0.5, 0.5, 0.75, 0.25, 0.5, 0.5, 0.25, 0.75, 0.5, 0.5, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0.4,
  0.4,
]);

describe('matchPriors', () => {
  it('gives each prior its best ground truth above the threshold, labels shifted by one', () => {
    const { labels, locations } = matchPriors([0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1], [4, 0], PRIORS, 0.5);
    // Prior 4 overlaps box 0 by 0.16/0.25 = 0.64.
    expect(Array.from(labels)).toEqual([5, 0, 0, 1, 5]);
    expect(Array.from(locations.subarray(0, 16))).toEqual(new Array(16).fill(0));
    const p4 = Array.from(locations.subarray(16));
    [0, 0, Math.log(0.5 / 0.4) / 0.2, Math.log(0.5 / 0.4) / 0.2].forEach((v, i) =>
      expect(p4[i]).toBeCloseTo(v, 5),
    );
  });

  it('lets every ground truth claim its best prior, however small the overlap; a later one wins', () => {
    // 0.01 / 0.25 = 0.04 with prior 0, yet prior 0 is its best: it is positive.
    const tiny = matchPriors([0, 0, 0.1, 0.1], [2], PRIORS, 0.5);
    expect(Array.from(tiny.labels)).toEqual([3, 0, 0, 0, 0]);
    // Both boxes' best prior is prior 0 (IoU 1 and 0.81): the second one takes it although prior 0
    // overlaps the first more. Prior 4 overlaps the second most (0.79 against 0.64).
    const both = matchPriors([0, 0, 0.5, 0.5, 0, 0, 0.45, 0.45], [0, 1], PRIORS, 0.5);
    expect(Array.from(both.labels)).toEqual([2, 0, 0, 0, 2]);
    const p0 = Array.from(both.locations.subarray(0, 4));
    [-0.5, -0.5, Math.log(0.9) / 0.2, Math.log(0.9) / 0.2].forEach((v, i) => expect(p0[i]).toBeCloseTo(v, 5));
  });

  it('makes every prior background without ground truth', () => {
    const { labels, locations } = matchPriors([], [], PRIORS, 0.5);
    expect(Array.from(labels)).toEqual([0, 0, 0, 0, 0]);
    expect(locations.every((v) => v === 0)).toBe(true);
  });

  it.each([
    [[0, 0, 1, 1], [0, 1], 0.5, /2 labels but 4 box values, expected 8/],
    [[0, 0, 1], [0], 0.5, /1 labels but 3 box values, expected 4/],
    [
      [0, 0, Number.NaN, 1],
      [0],
      0.5,
      /box 0 is \[0, 0, NaN, 1\], expected finite corners with x2 > x1 and y2 > y1/,
    ],
    [[0.5, 0, 0.5, 1], [0], 0.5, /box 0 is \[0.5, 0, 0.5, 1\]/],
    [[0, 0, 1, Infinity], [0], 0.5, /box 0 is/],
    [[0, 0, 1, 1], [-1], 0.5, /label 0 is -1, expected a class index >= 0/],
    [[0, 0, 1, 1], [1.5], 0.5, /label 0 is 1.5/],
    [[0, 0, 1, 1], [0], 0, /IoU threshold must be in \(0, 1\), got 0/],
    [[0, 0, 1, 1], [0], Number.NaN, /IoU threshold must be in \(0, 1\), got NaN/],
  ])('refuses malformed ground truth %#', (boxes, labels, threshold, message) => {
    expect(() => matchPriors(boxes, labels, PRIORS, threshold, 'image 3')).toThrow(message);
  });

  it('refuses malformed priors', () => {
    expect(() => matchPriors([], [], new Float32Array(0), 0.5)).toThrow(
      /priors must be \[P, 4\] with P > 0, got 0 values/,
    );
    expect(() => matchPriors([], [], new Float32Array(6), 0.5)).toThrow(/got 6 values/);
  });
});
