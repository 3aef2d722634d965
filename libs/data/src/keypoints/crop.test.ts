import { Rng } from '../rng';
import { applyAffine, boxCenterScale, cropAffine } from './affine';
import { keypointSample, type KeypointSampleOptions } from './crop';
import type { PersonInstance } from './types';

// A black 40x30 image with three dots: pure red at keypoint 0 (left_x), pure green at keypoint 1
// (right_x), pure blue at keypoint 2; each channel's centroid in a crop shows where its dot went.
const W = 40;
const H = 30;
const DOTS: [number, number][] = [
  [24, 12],
  [12, 9],
  [18, 20],
];
const image = new Uint8Array(W * H * 3);
DOTS.forEach(([x, y], c) => {
  for (let dy = -1; dy <= 1; dy++)
    for (let dx = -1; dx <= 1; dx++)
      image[((y + dy) * W + x + dx) * 3 + c] = dx === 0 && dy === 0 ? 255 : 128;
});

function instance(patch: Partial<PersonInstance> = {}): PersonInstance {
  return {
    id: '1',
    imageId: '1',
    file: '/nonexistent.jpg',
    width: W,
    height: H,
    box: [8, 6, 20, 17],
    keypoints: Float32Array.from(DOTS.flatMap(([x, y]) => [x, y, 2])),
    numKeypoints: 3,
    area: 340,
    ...patch,
  };
}

const OPTIONS: KeypointSampleOptions = {
  inputWidth: 24,
  inputHeight: 32,
  scaleFactor: 0.3,
  rotationFactor: 40,
  flipPairs: [[0, 1]],
};

/** Where channel c's mass lies in an RGB crop. */
function centroid(pixels: Uint8Array, width: number, c: number): [number, number] {
  let [sx, sy, s] = [0, 0, 0];
  for (let i = 0; i < pixels.length / 3; i++) {
    const v = pixels[i * 3 + c];
    sx += v * (i % width);
    sy += v * Math.floor(i / width);
    s += v;
  }
  return [sx / s, sy / s];
}

function expectNear(got: readonly number[], want: readonly number[], tolerance: number): void {
  expect(Math.hypot(got[0] - want[0], got[1] - want[1])).toBeLessThanOrEqual(tolerance);
}

describe('keypointSample', () => {
  it('without an rng crops the padded box and carries the keypoints onto their dots', () => {
    const s = keypointSample(instance(), image, OPTIONS, null);
    const { center, scale } = boxCenterScale([8, 6, 20, 17], 24 / 32);
    expect(s).toMatchObject({ center, scale, rotation: 0, flipped: false });
    expect(s.affine).toEqual(cropAffine(center, scale, 0, 24, 32));
    expect(s.pixels).toHaveLength(24 * 32 * 3);
    for (let c = 0; c < 3; c++) {
      const kp = Array.from(s.keypoints.slice(3 * c, 3 * c + 3));
      expect(kp[2]).toBe(2);
      expectNear(centroid(s.pixels, 24, c), kp, 0.25);
      expectNear(kp, applyAffine(s.affine, ...DOTS[c]), 1e-4);
    }
  });

  it('with an rng scales, rotates and mirrors, the keypoints following their dots and pairs swapping', () => {
    const rng = Rng.fromSeed(11);
    const seen = { flipped: 0, rotated: 0, checked: 0 };
    for (let i = 0; i < 40; i++) {
      const s = keypointSample(instance(), image, OPTIONS, rng);
      if (s.flipped) seen.flipped++;
      if (s.rotation !== 0) seen.rotated++;
      // Mirrored, the red dot (keypoint 0, left) is where keypoint 1 (right) now is.
      const at = s.flipped ? [1, 0, 2] : [0, 1, 2];
      for (let c = 0; c < 3; c++) {
        const kp = s.keypoints.slice(3 * at[c], 3 * at[c] + 3);
        const inside = kp[0] >= 1 && kp[0] <= 22 && kp[1] >= 1 && kp[1] <= 30;
        if (!inside) continue;
        expectNear(centroid(s.pixels, 24, c), Array.from(kp), 0.35);
        seen.checked++;
      }
    }
    expect(seen.flipped).toBeGreaterThan(5);
    expect(seen.rotated).toBeGreaterThan(5);
    expect(seen.checked).toBeGreaterThan(80);
  });

  it("draws the reference's distributions: scale within 1 +- s, rotation within +-2r with p 0.6, flips p 0.5", () => {
    const rng = Rng.fromSeed(3);
    let rotated = 0;
    let flipped = 0;
    const n = 400;
    for (let i = 0; i < n; i++) {
      const s = keypointSample(instance(), image, { ...OPTIONS, inputWidth: 8, inputHeight: 8 }, rng);
      const ratio = s.scale[0] / boxCenterScale([8, 6, 20, 17], 1).scale[0];
      expect(ratio).toBeGreaterThanOrEqual(0.7 - 1e-9);
      expect(ratio).toBeLessThanOrEqual(1.3 + 1e-9);
      expect(Math.abs(s.rotation)).toBeLessThanOrEqual(80);
      if (s.rotation !== 0) rotated++;
      if (s.flipped) {
        flipped++;
        expect(s.center[0]).toBeCloseTo(W - 1 - 18, 9);
      } else expect(s.center[0]).toBe(18);
    }
    expect(rotated / n).toBeGreaterThan(0.5);
    expect(rotated / n).toBeLessThan(0.7);
    expect(flipped / n).toBeGreaterThan(0.4);
    expect(flipped / n).toBeLessThan(0.6);
  });

  it('is deterministic by seed and leaves unlabelled keypoints at zero, v as annotated', () => {
    const person = instance({
      keypoints: Float32Array.from([24, 12, 1, 0, 0, 0, 18, 20, 2]),
      numKeypoints: 2,
    });
    const a = keypointSample(person, image, OPTIONS, Rng.fromSeed(9));
    const b = keypointSample(person, image, OPTIONS, Rng.fromSeed(9));
    expect(b).toEqual(a);
    const others = [1, 2, 3, 4].map((seed) => keypointSample(person, image, OPTIONS, Rng.fromSeed(seed)));
    expect(others.some((o) => o.scale[0] !== a.scale[0])).toBe(true);
    for (const s of [a, ...others]) {
      const slot = s.flipped ? 1 : 0;
      expect(s.keypoints[3 * slot + 2]).toBe(1);
      expect(Array.from(s.keypoints.slice(3 * (1 - slot), 3 * (1 - slot) + 3))).toEqual([0, 0, 0]);
      expect(s.keypoints[8]).toBe(2);
    }
  });

  it('refuses pixels of the wrong size, flip pairs out of range and bad factors', () => {
    expect(() => keypointSample(instance(), new Uint8Array(10), OPTIONS, null)).toThrow(
      /pixels: expected 40x30x3 bytes of RGB, got "10 bytes"/,
    );
    expect(() => keypointSample(instance(), image, { ...OPTIONS, flipPairs: [[0, 3]] }, null)).toThrow(
      /flipPairs: expected pairs of distinct indices below 3, got "\[0,3\]"/,
    );
    expect(() => keypointSample(instance(), image, { ...OPTIONS, scaleFactor: 1 }, Rng.fromSeed(1))).toThrow(
      /scaleFactor: expected a number in \[0, 1\)/,
    );
    expect(() => keypointSample(instance(), image, { ...OPTIONS, inputWidth: 0 }, null)).toThrow(
      /inputWidth/,
    );
  });
});
