import { Rng } from '../rng';
import { augmentDetection, detectionSample, resizeDetection, type DetectionSample } from './augment';
import { trainingObjects, type DetectionImage } from './types';

const W = 48;
const H = 32;
/** Three non-overlapping rectangles, as [x1, y1, x2, y2] pixel edges. */
const RECTS = [
  [4, 3, 14, 12],
  [20, 8, 40, 20],
  [6, 20, 16, 30],
];

/** A grey image (level 40) with the rectangles `drawn` painted at level 200, and all three boxes. */
function sample(drawn: readonly number[]): DetectionSample {
  const pixels = new Float32Array(W * H * 3).fill(40);
  for (const k of drawn) {
    const [x1, y1, x2, y2] = RECTS[k];
    for (let y = y1; y < y2; y++) pixels.fill(200, (y * W + x1) * 3, (y * W + x2) * 3);
  }
  return {
    pixels,
    width: W,
    height: H,
    boxes: Float32Array.from(RECTS.flat()),
    labels: Int32Array.from([0, 1, 2]),
  };
}

/** Pixel bounds [x1, y1, x2, y2] (edges) of where two same-size images differ; undefined when nowhere. */
function differing(a: Float32Array, b: Float32Array, width: number, height: number): number[] | undefined {
  let x1 = width;
  let y1 = height;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (Math.abs(a[o] - b[o]) + Math.abs(a[o + 1] - b[o + 1]) + Math.abs(a[o + 2] - b[o + 2]) < 1e-3)
        continue;
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x + 1);
      y2 = Math.max(y2, y + 1);
    }
  }
  return x2 < 0 ? undefined : [x1, y1, x2, y2];
}

describe('augmentDetection', () => {
  it('moves boxes with the pixels through expand, crop and mirror, over many seeds', () => {
    const seen = { expanded: 0, cropped: 0, whole: 0, dropped: 0 };
    for (let seed = 0; seed < 150; seed++) {
      // The draws do not depend on pixel values: with and without a rectangle, the same geometry.
      const plain = augmentDetection(sample([]), Rng.fromSeed(seed));
      if (plain.width > W) seen.expanded++;
      else if (plain.width < W) seen.cropped++;
      else seen.whole++;
      if (plain.labels.length < 3) seen.dropped++;
      for (let k = 0; k < RECTS.length; k++) {
        const out = augmentDetection(sample([k]), Rng.fromSeed(seed));
        expect([out.width, out.height]).toEqual([plain.width, plain.height]);
        const i = Array.from(out.labels).indexOf(k);
        if (i < 0) continue;
        const box = Array.from(out.boxes.subarray(i * 4, i * 4 + 4));
        expect(differing(out.pixels, plain.pixels, out.width, out.height)).toEqual(box);
      }
      for (let i = 0; i < plain.labels.length; i++) {
        const [x1, y1, x2, y2] = plain.boxes.subarray(i * 4, i * 4 + 4);
        expect(x1).toBeGreaterThanOrEqual(0);
        expect(y1).toBeGreaterThanOrEqual(0);
        expect(x2).toBeLessThanOrEqual(plain.width);
        expect(y2).toBeLessThanOrEqual(plain.height);
        expect(x2 - x1).toBeGreaterThan(0);
        expect(y2 - y1).toBeGreaterThan(0);
      }
      expect(plain.labels.length).toBeGreaterThan(0);
    }
    // Expand half the time; crops that keep the whole image one time in six.
    expect(seen.expanded).toBeGreaterThan(40);
    expect(seen.cropped).toBeGreaterThan(20);
    expect(seen.whole).toBeGreaterThan(5);
    expect(seen.dropped).toBeGreaterThan(5);
  });

  it('is deterministic per seed and leaves its input alone', () => {
    const input = sample([0, 1, 2]);
    const copy = Float32Array.from(input.pixels);
    const a = augmentDetection(input, Rng.fromSeed(7));
    const b = augmentDetection(input, Rng.fromSeed(7));
    expect(a).toEqual(b);
    expect(input.pixels).toEqual(copy);
    expect(Array.from(input.boxes)).toEqual(RECTS.flat());
    const others = [8, 9, 10].map((s) => augmentDetection(input, Rng.fromSeed(s)));
    expect(
      others.some(
        (o) =>
          o.width !== a.width ||
          o.pixels.length !== a.pixels.length ||
          o.pixels.some((v, i) => v !== a.pixels[i]),
      ),
    ).toBe(true);
  });

  it('mirrors as the reference: x becomes width - x', () => {
    // Find a seed with no expand and a whole-image crop, then compare with and without mirror by pixels.
    for (let seed = 0; seed < 200; seed++) {
      const out = augmentDetection(sample([1]), Rng.fromSeed(seed));
      if (out.width !== W || out.height !== H) continue;
      const i = Array.from(out.labels).indexOf(1);
      const [x1, , x2] = out.boxes.subarray(i * 4, i * 4 + 4);
      if (x1 === RECTS[1][0]) continue;
      expect([x1, x2]).toEqual([W - RECTS[1][2], W - RECTS[1][0]]);
      return;
    }
    throw new Error('no mirrored whole-image sample in 200 seeds');
  });

  it('in mirror mode only flips: pixels and boxes unchanged or mirrored, about half of each', () => {
    const input = sample([0, 1, 2]);
    let flipped = 0;
    for (let seed = 0; seed < 40; seed++) {
      const out = augmentDetection(input, Rng.fromSeed(seed), 'mirror');
      expect([out.width, out.height]).toEqual([W, H]);
      expect(Array.from(out.labels)).toEqual([0, 1, 2]);
      const same = out.pixels.every((v, i) => v === input.pixels[i]);
      if (same) {
        expect(Array.from(out.boxes)).toEqual(RECTS.flat());
        continue;
      }
      flipped++;
      expect(Array.from(out.boxes)).toEqual(RECTS.flatMap(([x1, y1, x2, y2]) => [W - x2, y1, W - x1, y2]));
      // Row by row, the mirror image of the input.
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          expect(out.pixels[(y * W + x) * 3]).toBe(input.pixels[(y * W + (W - 1 - x)) * 3]);
        }
      }
    }
    expect(flipped).toBeGreaterThan(5);
    expect(flipped).toBeLessThan(35);
    expect(() => augmentDetection(input, Rng.fromSeed(1), 'zoom' as 'ssd')).toThrow(/mode/);
  });

  it('keeps grey grey through the photometric distortion, and swaps channels of colour sometimes', () => {
    const colour = sample([]);
    for (let p = 0; p < W * H; p++) colour.pixels.set([200, 60, 30], p * 3);
    let swapped = 0;
    for (let seed = 0; seed < 40; seed++) {
      const grey = augmentDetection(sample([0]), Rng.fromSeed(seed));
      for (let p = 0; p < grey.width * grey.height; p += 37) {
        expect(grey.pixels[p * 3 + 1]).toBeCloseTo(grey.pixels[p * 3], 2);
        expect(grey.pixels[p * 3 + 2]).toBeCloseTo(grey.pixels[p * 3], 2);
      }
      const out = augmentDetection(colour, Rng.fromSeed(seed));
      // A pixel of the image (not of expand's fill): red is no longer the largest channel after a swap.
      const first = out.pixels.findIndex((v, i) => i % 3 === 0 && v !== 127 && out.pixels[i + 1] !== 127);
      if (first >= 0 && out.pixels[first] < out.pixels[first + 1]) swapped++;
    }
    expect(swapped).toBeGreaterThan(3);
  });

  it.each([
    [
      'pixels of the wrong length',
      { pixels: new Float32Array(5) },
      /sample\.pixels: expected a Float32Array of 48x32x3 values, got 5/,
    ],
    [
      'boxes not 4 per label',
      { boxes: new Float32Array(5) },
      /sample\.boxes: expected a Float32Array of 4 values per label \(3 labels\), got 5/,
    ],
    [
      'a box outside the image',
      { boxes: Float32Array.from([0, 0, 49, 5, ...RECTS[1], ...RECTS[2]]) },
      /sample\.boxes\[0\]: expected a box of positive area inside 48x32, got "\[0, 0, 49, 5\]"/,
    ],
    [
      'a zero-area box',
      { boxes: Float32Array.from([3, 3, 3, 5, ...RECTS[1], ...RECTS[2]]) },
      /sample\.boxes\[0\]/,
    ],
    [
      'a NaN box',
      { boxes: Float32Array.from([NaN, 3, 4, 5, ...RECTS[1], ...RECTS[2]]) },
      /sample\.boxes\[0\]/,
    ],
    ['a zero width', { width: 0 }, /sample\.width: expected an integer in \[1, 65536\], got 0/],
  ])('refuses %s', (_name, patch, message) => {
    expect(() => augmentDetection({ ...sample([]), ...patch }, Rng.fromSeed(1))).toThrow(message);
    expect(() => resizeDetection({ ...sample([]), ...patch }, 8)).toThrow(message);
  });

  it('keeps an image without boxes whole through the crop', () => {
    const empty = { ...sample([0]), boxes: new Float32Array(0), labels: new Int32Array(0) };
    for (let seed = 0; seed < 20; seed++) {
      const out = augmentDetection(empty, Rng.fromSeed(seed));
      expect(out.labels.length).toBe(0);
      expect(out.width).toBeGreaterThanOrEqual(W);
    }
  });
});

describe('resizeDetection', () => {
  it("interpolates as OpenCV's bilinear resize and normalises the boxes", () => {
    const pixels = Float32Array.from([0, 100, 200, 300].flatMap((v) => [v, v, v]));
    const out = resizeDetection(
      { pixels, width: 2, height: 2, boxes: Float32Array.from([0, 0, 1, 2]), labels: Int32Array.from([4]) },
      4,
    );
    const channel0 = Array.from(out.pixels.filter((_, i) => i % 3 === 0));
    expect(channel0).toEqual([0, 25, 75, 100, 50, 75, 125, 150, 150, 175, 225, 250, 200, 225, 275, 300]);
    expect(Array.from(out.boxes)).toEqual([0, 0, 0.5, 1]);
    expect(Array.from(out.labels)).toEqual([4]);
  });

  it('keeps a drawn rectangle inside its normalised box, aspect not kept', () => {
    const size = 64;
    const out = resizeDetection(sample([1]), size);
    const base = resizeDetection(sample([]), size);
    const [x1, y1, x2, y2] = differing(out.pixels, base.pixels, size, size) as number[];
    const box = Array.from(out.boxes.subarray(4, 8)).map((v) => v * size);
    [(20 / W) * size, (8 / H) * size, (40 / W) * size, (20 / H) * size].forEach((v, i) =>
      expect(box[i]).toBeCloseTo(v, 4),
    );
    // Bilinear blur spreads one source pixel at most.
    expect(Math.abs(x1 - box[0])).toBeLessThanOrEqual(size / W + 1);
    expect(Math.abs(y1 - box[1])).toBeLessThanOrEqual(size / H + 1);
    expect(Math.abs(x2 - box[2])).toBeLessThanOrEqual(size / W + 1);
    expect(Math.abs(y2 - box[3])).toBeLessThanOrEqual(size / H + 1);
    expect(out.pixels.length).toBe(size * size * 3);
  });

  it('refuses a bad size', () => {
    expect(() => resizeDetection(sample([]), 0)).toThrow(/size: expected an integer in \[1, 4096\], got 0/);
  });
});

describe('training objects', () => {
  it('leave out difficult and crowd boxes and feed a sample', () => {
    const image: DetectionImage = {
      id: 'x',
      file: '/x.jpg',
      width: 4,
      height: 2,
      objects: [
        { xMin: 0, yMin: 0, xMax: 1, yMax: 1, classIndex: 2, difficult: false, crowd: false },
        { xMin: 1, yMin: 0, xMax: 2, yMax: 1, classIndex: 1, difficult: true, crowd: false },
        { xMin: 2, yMin: 0, xMax: 3, yMax: 1, classIndex: 0, difficult: false, crowd: true },
      ],
    };
    const kept = trainingObjects(image);
    expect(kept.map((o) => o.classIndex)).toEqual([2]);
    const s = detectionSample({ pixels: new Uint8Array(4 * 2 * 3).fill(9), width: 4, height: 2 }, kept);
    expect(Array.from(s.boxes)).toEqual([0, 0, 1, 1]);
    expect(Array.from(s.labels)).toEqual([2]);
    expect(s.pixels).toEqual(new Float32Array(24).fill(9));
  });
});
