import { generateShapes, type ShapesOptions } from './synthetic';

/** Accuracy on the test split of the nearest class mean (in pixel space) of the training split. */
function nearestMeanAccuracy(options: ShapesOptions): number {
  const { train, test } = generateShapes(options);
  const per = train.images.length / train.labels.length;
  const sums = new Float64Array(options.classes * per);
  const counts = new Float64Array(options.classes);
  train.labels.forEach((label, n) => {
    counts[label]++;
    for (let k = 0; k < per; k++) sums[label * per + k] += train.images[n * per + k];
  });
  for (let c = 0; c < options.classes; c++) for (let k = 0; k < per; k++) sums[c * per + k] /= counts[c];
  let correct = 0;
  test.labels.forEach((label, n) => {
    let best = -1;
    let bestDistance = Infinity;
    for (let c = 0; c < options.classes; c++) {
      let d = 0;
      for (let k = 0; k < per; k++) d += (test.images[n * per + k] - sums[c * per + k]) ** 2;
      if (d < bestDistance) [best, bestDistance] = [c, d];
    }
    if (best === label) correct++;
  });
  return correct / test.labels.length;
}

describe('generateShapes', () => {
  it.each([
    [
      'greyscale, 10 classes (IDX)',
      { classes: 10, size: 28, channels: 1, train: 500, test: 200, seed: 1 },
      0.3,
    ],
    [
      'colour, 10 classes (CIFAR-10)',
      { classes: 10, size: 32, channels: 3, train: 500, test: 200, seed: 2 },
      0.6,
    ],
    [
      'colour, 100 classes (CIFAR-100)',
      { classes: 100, size: 32, channels: 3, train: 2000, test: 300, seed: 3 },
      0.1,
    ],
  ] as const)(
    'is learnable: a nearest-class-mean classifier beats chance clearly (%s)',
    (_name, options, floor) => {
      const accuracy = nearestMeanAccuracy(options);
      expect(accuracy).toBeGreaterThan(floor);
      expect(accuracy).toBeGreaterThan(3 / options.classes);
    },
  );

  it('is not trivial: images of one class differ', () => {
    const { train } = generateShapes({ classes: 2, size: 16, channels: 3, train: 4, test: 0, seed: 1 });
    const per = 16 * 16 * 3;
    const first = train.labels.indexOf(0);
    const second = train.labels.indexOf(0, first + 1);
    expect(
      Buffer.from(train.images.subarray(first * per, (first + 1) * per)).equals(
        Buffer.from(train.images.subarray(second * per, (second + 1) * per)),
      ),
    ).toBe(false);
  });

  it('balances classes, is deterministic by seed and validates its options', () => {
    const a = generateShapes({ classes: 4, size: 8, channels: 1, train: 40, test: 10, seed: 5 });
    const counts = [0, 0, 0, 0];
    a.train.labels.forEach((l) => counts[l]++);
    expect(counts).toEqual([10, 10, 10, 10]);
    const b = generateShapes({ classes: 4, size: 8, channels: 1, train: 40, test: 10, seed: 5 });
    expect(Buffer.from(a.test.images).equals(Buffer.from(b.test.images))).toBe(true);
    expect(a.classNames).toEqual(['square', 'disc', 'ring', 'triangle']);
    expect(() =>
      generateShapes({ classes: 4, size: 8, channels: 2 as never, train: 4, test: 0, seed: 1 }),
    ).toThrow(/channels: expected 1 or 3, got 2/);
    expect(() => generateShapes({ classes: 4, size: 4, channels: 1, train: 4, test: 0, seed: 1 })).toThrow(
      /size: expected an integer in \[8, 512\], got 4/,
    );
  });
});
