import { decodeBoxes } from './boxes';
import { decodeDetections, resolveDecodeOptions } from './decode';

// Two overlapping priors (IoU 0.9) and a third far away.
const PRIORS = Float32Array.from([0.5, 0.5, 0.4, 0.4, 0.52, 0.5, 0.4, 0.4, 0.1, 0.1, 0.1, 0.1]);
// Background, class 0, class 1.
const PROBS = [0.1, 0.85, 0.05, 0.5, 0.005, 0.495, 0.97, 0.02, 0.01];

describe('decodeDetections', () => {
  it('thresholds per class, suppresses within a class, then sorts all classes by score', () => {
    const found = decodeDetections(PROBS, new Float32Array(12), PRIORS);
    // Class 0: priors 0 and 2 (prior 1's 0.005 is not above 0.01; prior 2 overlaps nothing).
    // Class 1: priors 0 (0.05) and 1 (0.495) overlap: only prior 1; prior 2's 0.01 is not above 0.01.
    expect(found.map((d) => [d.classIndex, d.score])).toEqual([
      [0, 0.85],
      [1, 0.495],
      [0, 0.02],
    ]);
    found[0].box.forEach((v, i) => expect(v).toBeCloseTo([0.3, 0.3, 0.7, 0.7][i], 6));
    found[1].box.forEach((v, i) => expect(v).toBeCloseTo([0.32, 0.3, 0.72, 0.7][i], 6));
  });

  it('decodes the regressions against the priors and caps the count', () => {
    const locations = Float32Array.from([1, -1, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const [best] = decodeDetections(PROBS, locations, PRIORS, { maxDetections: 1 });
    const [cx, cy, w, h] = decodeBoxes(locations.subarray(0, 4), PRIORS.subarray(0, 4));
    best.box.forEach((v, i) => expect(v).toBeCloseTo([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2][i], 6));
    expect(decodeDetections(PROBS, locations, PRIORS, { maxDetections: 1 })).toHaveLength(1);
    expect(decodeDetections(PROBS, locations, PRIORS, { scoreThreshold: 0.9 })).toEqual([]);
  });

  it('refuses outputs that do not line up and out-of-range options', () => {
    expect(() => decodeDetections(PROBS, new Float32Array(8), PRIORS)).toThrow(
      /3 priors, 8 location values and 9 probabilities do not line up/,
    );
    expect(() => decodeDetections(PROBS.slice(1), new Float32Array(12), PRIORS)).toThrow(/do not line up/);
    expect(() => decodeDetections([], [], new Float32Array(0))).toThrow(/0 priors/);
    expect(() => resolveDecodeOptions({ maxDetections: 201 })).toThrow(
      /decode: maxDetections must be an integer in \[1, 200\], got 201/,
    );
    expect(() => resolveDecodeOptions({ scoreThreshold: Number.NaN })).toThrow(
      /scoreThreshold must be in \[0, 1\], got NaN/,
    );
    expect(() => resolveDecodeOptions({ iouThreshold: 2 })).toThrow(
      /iouThreshold must be in \[0, 1\], got 2/,
    );
    expect(() => resolveDecodeOptions({ candidates: 0 })).toThrow(
      /candidates must be an integer >= 1, got 0/,
    );
  });
});
