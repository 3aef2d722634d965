import { normalizationTable } from './augment';
import { batchCount, hostBatches, type HostBatch } from './host-batches';
import { Rng } from './rng';
import type { Split } from './split';

/** A split of random images; mean 0.5 so no normalised pixel is exactly 0 (only cutout makes zeros). */
function randomSplit(size: number, h: number, w: number, c: number, seed = 1): Split {
  const rng = Rng.fromSeed(seed);
  const images = Uint8Array.from({ length: size * h * w * c }, () => rng.nextInt(256));
  const labels = Int32Array.from({ length: size }, (_, i) => i % 7);
  return {
    imageShape: [h, w, c],
    images,
    labels,
    size,
    numClasses: 7,
    mean: new Array(c).fill(0.5),
    std: Array.from({ length: c }, (_, k) => 0.2 + 0.05 * k),
  };
}

/** Images of 2x2x1 whose first two pixels encode their index, to follow them through shuffling. */
function indexSplit(size: number): Split {
  const images = new Uint8Array(size * 4);
  for (let i = 0; i < size; i++) [images[4 * i], images[4 * i + 1]] = [i % 256, Math.floor(i / 256)];
  return { ...randomSplit(size, 2, 2, 1), images };
}

function collect(split: Split, options: Parameters<typeof hostBatches>[1]): HostBatch[] {
  return [...hostBatches(split, options)];
}

/** Recovers the index of each image of indexSplit from its normalised pixels. */
function indicesOf(batches: HostBatch[], split: Split): number[] {
  const table = normalizationTable(split.mean, split.std);
  const value = (x: number): number => table.indexOf(x);
  return batches.flatMap((b) =>
    Array.from({ length: b.size }, (_, i) => value(b.images[4 * i]) + 256 * value(b.images[4 * i + 1])),
  );
}

describe('hostBatches without augmentation', () => {
  it('normalises every pixel with the per-channel mean and std, in dataset order', () => {
    const split = randomSplit(10, 3, 4, 3);
    const out = collect(split, { batchSize: 4 });
    expect(out.map((b) => [b.index, b.size])).toEqual([
      [0, 4],
      [1, 4],
      [2, 2],
    ]);
    expect(out[2].shape).toEqual([2, 3, 4, 3]);
    const images = out.flatMap((b) => Array.from(b.images));
    const expected = Array.from(split.images, (v, k) =>
      Math.fround((v / 255 - split.mean[k % 3]) / split.std[k % 3]),
    );
    expect(images).toEqual(expected);
    expect(out.flatMap((b) => Array.from(b.labels))).toEqual(Array.from(split.labels));
  });

  it('drops the last partial batch on request and counts batches', () => {
    const split = randomSplit(10, 2, 2, 1);
    expect(collect(split, { batchSize: 4, dropLast: true }).map((b) => b.size)).toEqual([4, 4]);
    expect(batchCount(split, { batchSize: 4 })).toBe(3);
    expect(batchCount(split, { batchSize: 4, dropLast: true })).toBe(2);
    expect(batchCount(split, { batchSize: 20, dropLast: true })).toBe(0);
  });

  it('shuffles with a seed: every image exactly once, labels kept with their images', () => {
    const split = indexSplit(600);
    const out = collect(split, { batchSize: 64, shuffleSeed: 3 });
    const order = indicesOf(out, split);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(order).not.toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(out.flatMap((b) => Array.from(b.labels))).toEqual(order.map((i) => split.labels[i]));
    expect(indicesOf(collect(split, { batchSize: 100, shuffleSeed: 3 }), split)).toEqual(order);
    expect(indicesOf(collect(split, { batchSize: 64, shuffleSeed: 4 }), split)).not.toEqual(order);
  });
});

describe('hostBatches with augmentation (section 7)', () => {
  const [h, w, c] = [8, 8, 3];
  const split = randomSplit(1500, h, w, c, 2);
  const table = normalizationTable(split.mean, split.std);

  /** The image `n` cropped at offset (oy, ox) from its zero-padded version, flipped or not, normalised. */
  function reference(n: number, oy: number, ox: number, flip: boolean): Float32Array {
    const out = new Float32Array(h * w * c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const sy = y + oy;
        const sx = (flip ? w - 1 - x : x) + ox;
        for (let k = 0; k < c; k++) {
          const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          out[(y * w + x) * c + k] =
            table[k * 256 + (inside ? split.images[((n * h + sy) * w + sx) * c + k] : 0)];
        }
      }
    }
    return out;
  }

  it('crops from the 4-pixel zero padding and flips: each image is one such crop, all offsets and both flips occur', () => {
    const out = collect(split, { batchSize: 256, augment: { seed: 1, cutout: 0 } });
    const seen = new Set<string>();
    let unmatched = 0;
    let n = 0;
    for (const batch of out) {
      for (let i = 0; i < batch.size; i++, n++) {
        const got = batch.images.subarray(i * h * w * c, (i + 1) * h * w * c);
        let match: string | undefined;
        for (let oy = -4; oy <= 4 && match === undefined; oy++) {
          for (let ox = -4; ox <= 4 && match === undefined; ox++) {
            for (const flip of [false, true]) {
              const ref = reference(n, oy, ox, flip);
              if (ref.every((v, k) => v === got[k])) match = `${oy},${ox},${flip}`;
            }
          }
        }
        if (match === undefined) unmatched++;
        else seen.add(match);
      }
    }
    expect(unmatched).toBe(0);
    expect(seen.size).toBe(9 * 9 * 2);
  });

  it('cuts out one square of side 16 (here 4), clipped at the border, set to 0 after normalisation', () => {
    const out = collect(split, { batchSize: 500, augment: { seed: 2, padding: 0, flip: false, cutout: 4 } });
    const areas = new Set<number>();
    let changed = 0;
    let n = 0;
    for (const batch of out) {
      for (let i = 0; i < batch.size; i++, n++) {
        const ref = reference(n, 0, 0, false);
        const zeros: [number, number][] = [];
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            for (let k = 0; k < c; k++) {
              const v = batch.images[i * h * w * c + (y * w + x) * c + k];
              if (v === 0) {
                if (k === 0) zeros.push([y, x]);
              } else if (v !== ref[(y * w + x) * c + k]) {
                changed++;
              }
            }
          }
        }
        // The zeros form a full rectangle of at most 4x4 touching a border when smaller.
        const ys = zeros.map(([y]) => y);
        const xs = zeros.map(([, x]) => x);
        const [y1, y2, x1, x2] = [Math.min(...ys), Math.max(...ys) + 1, Math.min(...xs), Math.max(...xs) + 1];
        expect(zeros.length).toBe((y2 - y1) * (x2 - x1));
        expect(y2 - y1).toBeLessThanOrEqual(4);
        expect(x2 - x1).toBeLessThanOrEqual(4);
        if (y2 - y1 < 4) expect(y1 === 0 || y2 === h).toBe(true);
        if (x2 - x1 < 4) expect(x1 === 0 || x2 === w).toBe(true);
        areas.add(zeros.length);
      }
    }
    expect(changed).toBe(0);
    // Centres anywhere in the image: full squares and squares clipped to 2x2 (a corner centre) occur.
    expect(areas.has(16)).toBe(true);
    expect(areas.has(4)).toBe(true);
  });

  it('is deterministic by seed, different across seeds, and flips about half the images', () => {
    const options = { batchSize: 128, shuffleSeed: 5, augment: { seed: 9, cutout: 4 } };
    const a = collect(split, options);
    const b = collect(split, options);
    expect(a.map((x) => Buffer.from(x.images.buffer).toString('base64'))).toEqual(
      b.map((x) => Buffer.from(x.images.buffer).toString('base64')),
    );
    const other = collect(split, { ...options, augment: { seed: 10, cutout: 4 } });
    expect(Buffer.from(other[0].images.buffer).equals(Buffer.from(a[0].images.buffer))).toBe(false);
    const flips = collect(split, { batchSize: 1500, augment: { seed: 3, padding: 0, cutout: 0 } })[0];
    let flipped = 0;
    for (let n = 0; n < 1500; n++) {
      const ref = reference(n, 0, 0, true);
      if (ref.every((v, k) => v === flips.images[n * h * w * c + k])) flipped++;
    }
    expect(flipped).toBeGreaterThan(650);
    expect(flipped).toBeLessThan(850);
  });
});

describe('hostBatches options', () => {
  const split = randomSplit(4, 2, 2, 1);
  it.each([
    [{ batchSize: 0 }, /batchSize: expected an integer in \[1, 65536\], got 0/],
    [{ batchSize: 2.5 }, /batchSize: .*got 2.5/],
    [
      { batchSize: 2, shuffleSeed: -3 },
      /shuffleSeed: expected an integer in \[0, 9007199254740991\], got -3/,
    ],
    [{ batchSize: 2, dropLast: 'yes' as never }, /dropLast: expected a boolean, got "yes"/],
    [
      { batchSize: 2, augment: { seed: 1, padding: -1 } },
      /augment.padding: expected an integer in \[0, 256\], got -1/,
    ],
    [{ batchSize: 2, augment: { seed: 1, cutout: 1.5 } }, /augment.cutout: .*got 1.5/],
    [{ batchSize: 2, augment: { seed: 1, flip: 1 as never } }, /augment.flip: expected a boolean, got 1/],
    [{ batchSize: 2, augment: {} as never }, /augment.seed: expected an integer.*got undefined/],
  ])('refuses %j at the call', (options, message) => {
    expect(() => hostBatches(split, options)).toThrow(message);
  });
});
