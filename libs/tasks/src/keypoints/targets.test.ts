import { initBackend, tf, type Tensor2D, type Tensor4D } from '@rnas/engine';
import { keypointLoss } from './loss';
import { keypointTargets } from './targets';

const OPTIONS = { heatmapHeight: 16, heatmapWidth: 12, sigma: 2, stride: 4 };

const at = (maps: Float32Array, x: number, y: number, j: number, k: number, w = 12) =>
  maps[(y * w + x) * k + j];

describe('keypointTargets', () => {
  it('puts an unnormalised Gaussian of sigma 2 in a 13x13 window at int(x/4 + .5)', () => {
    // (21, 30) -> mu (int(5.75), int(8)) = (5, 8).
    const { heatmaps, weights } = keypointTargets([21, 30, 2], OPTIONS);
    expect(Array.from(weights)).toEqual([1]);
    expect(at(heatmaps, 5, 8, 0, 1)).toBe(1);
    expect(at(heatmaps, 6, 8, 0, 1)).toBeCloseTo(Math.exp(-1 / 8), 6);
    expect(at(heatmaps, 3, 10, 0, 1)).toBeCloseTo(Math.exp(-8 / 8), 6);
    expect(at(heatmaps, 11, 8, 0, 1)).toBeCloseTo(Math.exp(-36 / 8), 6);
    // Row 15 lies outside the 13x13 window.
    expect(at(heatmaps, 5, 15, 0, 1)).toBe(0);
    expect(at(heatmaps, 5, 14, 0, 1)).toBeCloseTo(Math.exp(-36 / 8), 6);
    let nonZero = 0;
    for (const v of heatmaps) if (v > 0) nonZero++;
    // Columns 0..11 (clipped from -1..11), rows 2..14: 12 x 13.
    expect(nonZero).toBe(12 * 13);
  });

  it('weighs unlabelled keypoints and keypoints whose window misses the map 0, and clips the rest', () => {
    const { heatmaps, weights } = keypointTargets(
      [
        // unlabelled
        10, 10, 0,
        // far left: mu x = int(-100/4 + .5) = -24, window -30..-17: off
        -100, 20, 1,
        // just off the right edge: mu x = 13 -> window 7..19, clipped to 7..11; still on
        52, 20, 2,
        // below: mu y = int(88/4 + .5) = 22 -> top 16 >= 16: off
        20, 88, 2,
      ],
      OPTIONS,
    );
    expect(Array.from(weights)).toEqual([0, 0, 1, 0]);
    const sums = [0, 0, 0, 0];
    heatmaps.forEach((v, i) => (sums[i % 4] += v));
    expect(sums[0]).toBe(0);
    expect(sums[1]).toBe(0);
    expect(sums[3]).toBe(0);
    // The peak (13, 5) lies off the map; column 11 holds exp(-4/8) on row 5.
    expect(at(heatmaps, 11, 5, 2, 4)).toBeCloseTo(Math.exp(-4 / 8), 6);
    expect(at(heatmaps, 6, 5, 2, 4)).toBe(0);
  });

  it('truncates towards zero as Python int() for keypoints left of the crop', () => {
    // mu x = int(-5/4 + .5) = int(-0.75) = 0 (not -1): the peak sits on column 0.
    const { heatmaps } = keypointTargets([-5, 8, 2], OPTIONS);
    expect(at(heatmaps, 0, 2, 0, 1)).toBe(1);
  });

  it('widens the window with sigma: 6 sigma + 1', () => {
    const { heatmaps } = keypointTargets([48, 48, 1], {
      ...OPTIONS,
      heatmapHeight: 24,
      heatmapWidth: 24,
      sigma: 3,
    });
    let nonZero = 0;
    for (const v of heatmaps) if (v > 0) nonZero++;
    expect(nonZero).toBe(19 * 19);
  });

  it('refuses ragged keypoints and bad options, and gives empty targets for no keypoints', () => {
    expect(() => keypointTargets([1, 2], OPTIONS)).toThrow(/expected \(x, y, v\) triples, got 2 values/);
    expect(() => keypointTargets([1, 2, 1], { ...OPTIONS, sigma: 0 })).toThrow(/sigma 0/);
    expect(() => keypointTargets([1, 2, 1], { ...OPTIONS, heatmapWidth: 1.5 })).toThrow(/map 16x1.5/);
    expect(keypointTargets([], OPTIONS).heatmaps.length).toBe(0);
    const nan = keypointTargets([NaN, 3, 2, Infinity, 1, 2], OPTIONS);
    expect(Array.from(nan.weights)).toEqual([0, 0]);
  });
});

describe('keypointLoss', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('is 0.5 mean((w (pred - gt))^2) over images, pixels and joints', () => {
    // [2, 2, 1, 2]: image 0 weighs its joints 1 and 0, image 1 both 1.
    // w (pred - gt) = [0.5, 0, -1, 0, 0, -1, 1, -1]: squares sum to 4.25 over 8 values.
    const before = tf.memory().numTensors;
    const p = tf.tensor4d([0.5, 1, 0, 2, 0.25, -1, 1, 0], [2, 2, 1, 2]);
    const g = tf.tensor4d([0, 1, 1, 0, 0.25, 0, 0, 1], [2, 2, 1, 2]);
    const wt = tf.tensor2d([1, 0, 1, 1], [2, 2]);
    const wide = tf.zeros([2, 2, 2, 2]) as Tensor4D;
    const ragged = tf.ones([2, 3]) as Tensor2D;
    const made = tf.memory().numTensors;
    const loss = keypointLoss(p, g, wt);
    expect(loss.dataSync()[0]).toBeCloseTo((0.5 * 4.25) / 8, 6);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(made);
    expect(() => keypointLoss(p, wide, wt)).toThrow(/targets are \[2, 2, 2, 2\], heatmaps \[2, 2, 1, 2\]/);
    expect(() => keypointLoss(p, g, ragged)).toThrow(/weights are \[2, 3\], expected \[2, 2\]/);
    tf.dispose([p, g, wt, wide, ragged]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
