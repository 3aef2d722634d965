import { Rng } from '../rng';
import { augmentSegmentation, resizeSegmentation } from './augment';
import type { SegmentationSample } from './types';

/** Label k's colour: distinct for every label and never black (black is the padding). */
const colour = (k: number): number[] => [20 + 40 * k, 200 - 30 * k, 10 + 45 * k];

/** 32 x 24 in 8 x 8 blocks of labels 0..4, each pixel coloured by its label. */
function blocks(width = 32, height = 24): SegmentationSample {
  const mask = new Uint8Array(width * height);
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = (Math.floor(x / 8) + 4 * Math.floor(y / 8)) % 5;
      mask[y * width + x] = k;
      pixels.set(colour(k), (y * width + x) * 3);
    }
  }
  return { pixels, mask, width, height };
}

/** Pixels whose 3 x 3 neighbourhood has one label: there the image must be exactly its colour. */
function interiorMismatches(s: SegmentationSample): { interior: number; wrong: number } {
  let interior = 0;
  let wrong = 0;
  for (let y = 1; y < s.height - 1; y++) {
    for (let x = 1; x < s.width - 1; x++) {
      const k = s.mask[y * s.width + x];
      if (k === 255) continue;
      let uniform = true;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) if (s.mask[(y + dy) * s.width + x + dx] !== k) uniform = false;
      if (!uniform) continue;
      interior++;
      const got = Array.from(s.pixels.subarray((y * s.width + x) * 3, (y * s.width + x) * 3 + 3));
      if (got.join() !== colour(k).join()) wrong++;
    }
  }
  return { interior, wrong };
}

describe('augmentSegmentation', () => {
  it('keeps image and labels aligned through flips, scales and crops', () => {
    const input = blocks();
    const before = Uint8Array.from(input.pixels);
    for (let seed = 0; seed < 12; seed++) {
      const out = augmentSegmentation(input, Rng.fromSeed(seed), {
        scales: [0.5, 1, 1.5, 2],
        height: 16,
        width: 20,
      });
      expect([out.width, out.height, out.pixels.length, out.mask.length]).toEqual([
        20,
        16,
        20 * 16 * 3,
        20 * 16,
      ]);
      const { interior, wrong } = interiorMismatches(out);
      expect(interior).toBeGreaterThan(30);
      expect(wrong).toBe(0);
      // Labels stay labels: nearest resizing never blends them.
      expect(out.mask.every((v) => v <= 4 || v === 255)).toBe(true);
    }
    expect(input.pixels).toEqual(before);
  });

  it('pads with image 0 and the ignore label where the scaled image is smaller than the crop', () => {
    let padded = 0;
    for (let seed = 0; seed < 6; seed++) {
      const out = augmentSegmentation(blocks(), Rng.fromSeed(seed), { scales: [0.5], height: 20, width: 24 });
      // 16 x 12 scaled into 24 x 20: 480 - 192 pixels of padding, wherever the flip puts them.
      let ignored = 0;
      for (let p = 0; p < out.mask.length; p++) {
        const black = out.pixels[3 * p] === 0 && out.pixels[3 * p + 1] === 0 && out.pixels[3 * p + 2] === 0;
        expect(black).toBe(out.mask[p] === 255);
        if (out.mask[p] === 255) ignored++;
      }
      expect(ignored).toBe(24 * 20 - 16 * 12);
      // Rows below the scaled image are all padding.
      expect(out.mask.subarray(12 * 24).every((v) => v === 255)).toBe(true);
      padded += ignored;
    }
    expect(padded).toBeGreaterThan(0);
  });

  it('is a crop and a flip at scale 1: exact pixels, both orientations over seeds', () => {
    const input = blocks(12, 6);
    const seen = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const out = augmentSegmentation(input, Rng.fromSeed(seed), { scales: [1], height: 6, width: 12 });
      const same = out.mask.every((v, p) => v === input.mask[p]);
      const mirrored = out.mask.every((v, p) => v === input.mask[Math.floor(p / 12) * 12 + 11 - (p % 12)]);
      expect(same || mirrored).toBe(true);
      seen.add(same ? 'same' : 'mirrored');
      for (let p = 0; p < out.mask.length; p++) {
        expect(Array.from(out.pixels.subarray(3 * p, 3 * p + 3))).toEqual(colour(out.mask[p]));
      }
    }
    expect(seen).toEqual(new Set(['same', 'mirrored']));
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const options = { scales: [0.75, 1, 1.25, 1.5, 1.75, 2], height: 16, width: 16 };
    const a = augmentSegmentation(blocks(), Rng.fromSeed(7), options);
    const b = augmentSegmentation(blocks(), Rng.fromSeed(7), options);
    expect(b).toEqual(a);
    const others = [1, 2, 3, 4].map((s) => augmentSegmentation(blocks(), Rng.fromSeed(s), options));
    expect(others.some((o) => o.mask.some((v, p) => v !== a.mask[p]))).toBe(true);
    // The draws continue the generator: a second call is another sample.
    const rng = Rng.fromSeed(7);
    augmentSegmentation(blocks(), rng, options);
    expect(rng.getState()).toEqual(
      (() => {
        const r = Rng.fromSeed(7);
        r.nextFloat();
        r.nextInt(6);
        r.nextInt(1);
        r.nextInt(1);
        return r.getState();
      })(),
    );
  });

  it.each([
    ['empty scales', { scales: [], height: 8, width: 8 }, /scales: expected a non-empty list/],
    [
      'a zero scale',
      { scales: [0], height: 8, width: 8 },
      /scales: expected a non-empty list of numbers in \(0, 16\]/,
    ],
    ['a NaN scale', { scales: [NaN], height: 8, width: 8 }, /scales/],
    ['a huge scale', { scales: [1e9], height: 8, width: 8 }, /scales/],
    [
      'a zero crop',
      { scales: [1], height: 0, width: 8 },
      /height: expected an integer in \[1, 65536\], got 0/,
    ],
    ['a fractional crop', { scales: [1], height: 8, width: 7.5 }, /width: expected an integer/],
  ])('refuses %s', (_name, options, message) => {
    expect(() => augmentSegmentation(blocks(), Rng.fromSeed(1), options)).toThrow(message);
  });

  it('refuses samples whose arrays do not match their size', () => {
    const s = blocks();
    expect(() =>
      augmentSegmentation({ ...s, mask: s.mask.subarray(1) }, Rng.fromSeed(1), {
        scales: [1],
        height: 8,
        width: 8,
      }),
    ).toThrow(/sample\.mask: expected a Uint8Array of 32x24 labels, got 767/);
    expect(() => resizeSegmentation({ ...s, width: 0 }, 8, 8)).toThrow(/sample\.width/);
    expect(() => resizeSegmentation({ ...s, pixels: new Uint8Array(3) }, 8, 8)).toThrow(/sample\.pixels/);
  });
});

describe('resizeSegmentation', () => {
  it('resizes labels by nearest and the image bilinearly, keeping interiors aligned', () => {
    const input = blocks();
    const up = resizeSegmentation(input, 48, 64);
    expect([up.width, up.height]).toEqual([64, 48]);
    // Each source pixel becomes a 2 x 2 block of its label.
    for (let y = 0; y < 48; y++)
      for (let x = 0; x < 64; x++)
        expect(up.mask[y * 64 + x]).toBe(input.mask[Math.floor(y / 2) * 32 + Math.floor(x / 2)]);
    expect(interiorMismatches(up).wrong).toBe(0);
    const down = resizeSegmentation(input, 12, 16);
    expect(interiorMismatches(down).wrong).toBe(0);
    const same = resizeSegmentation(input, 24, 32);
    expect(same).toEqual(input);
    expect(same.pixels).not.toBe(input.pixels);
    expect(() => resizeSegmentation(input, 0, 8)).toThrow(/height: expected an integer/);
  });
});
