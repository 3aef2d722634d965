import { datasetFromImages } from './dataset';
import { channelStats, splitTrain, subset, takeIndices, type Split } from './split';

/** A split of n 1x1x1 images whose pixel value is its index, with label index % 3. */
function indexed(n: number, coarse = false): Split {
  const images = Uint8Array.from({ length: n }, (_, i) => i);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  const train = {
    imageShape: [1, 1, 1] as const,
    images,
    labels,
    ...(coarse ? { coarseLabels: labels.map((l) => l + 10) } : {}),
  };
  return datasetFromImages('t:', 't', { train, test: train, classNames: ['a', 'b', 'c'] }).train;
}

describe('splitTrain', () => {
  it('cuts in dataset order by default, half and half, as the search does', () => {
    const [a, b] = splitTrain(indexed(11));
    expect(Array.from(a.images)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(b.images)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(Array.from(b.labels)).toEqual([2, 0, 1, 2, 0, 1]);
    expect(a.mean).toEqual(indexed(11).mean);
  });

  it('cuts at a fraction after a seeded shuffle, deterministically and without overlap', () => {
    const split = indexed(100);
    const [a, b] = splitTrain(split, { fraction: 0.3, seed: 4 });
    expect([a.size, b.size]).toEqual([30, 70]);
    const all = [...a.images, ...b.images].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(a.images)).not.toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(Array.from(splitTrain(split, { fraction: 0.3, seed: 4 })[0].images)).toEqual(Array.from(a.images));
    a.images.forEach((v, i) => expect(a.labels[i]).toBe(v % 3));
  });

  it('refuses fractions outside (0, 1)', () => {
    for (const fraction of [0, 1, -0.5, NaN]) {
      expect(() => splitTrain(indexed(4), { fraction })).toThrow(
        /fraction: expected a number strictly between 0 and 1/,
      );
    }
  });
});

describe('subset', () => {
  it('keeps the first N, or a seeded sample in dataset order', () => {
    const split = indexed(50, true);
    const first = subset(split, { count: 5 });
    expect(Array.from(first.images)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(first.coarseLabels ?? [])).toEqual([10, 11, 12, 10, 11]);
    const sample = subset(split, { count: 10, seed: 8 });
    const values = Array.from(sample.images);
    expect(values).toEqual([...values].sort((x, y) => x - y));
    expect(new Set(values).size).toBe(10);
    expect(values).not.toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(Array.from(subset(split, { count: 10, seed: 8 }).images)).toEqual(values);
    expect(subset(split, { count: 0 }).size).toBe(0);
  });

  it('refuses counts out of range and bad indices', () => {
    expect(() => subset(indexed(5), { count: 6 })).toThrow(/count: expected an integer in \[0, 5\], got 6/);
    expect(() => takeIndices(indexed(5), [1, 5])).toThrow(
      /indices\[1\]: expected an image index in \[0, 4\], got 5/,
    );
  });
});

describe('channelStats', () => {
  it('equals the float64 mean and population std per channel', () => {
    const images = Uint8Array.from({ length: 3 * 500 }, (_, i) => (i * 7919) % 256);
    const { mean, std } = channelStats(images, 3);
    for (let c = 0; c < 3; c++) {
      const values = Array.from(
        images.filter((_, i) => i % 3 === c),
        (v) => v / 255,
      );
      const m = values.reduce((a, b) => a + b, 0) / values.length;
      const s = Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length);
      expect(mean[c]).toBeCloseTo(m, 12);
      expect(std[c]).toBeCloseTo(s, 12);
    }
  });
});
