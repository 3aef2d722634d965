import {
  affineFromPoints,
  applyAffine,
  boxCenterScale,
  cropAffine,
  invertAffine,
  warpAffine,
} from './affine';

const close = (got: readonly number[], want: readonly number[], digits = 6): void => {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(v).toBeCloseTo(want[i], digits));
};

describe('boxCenterScale', () => {
  it('pads a tall box to the aspect along its width and a wide one along its height, times 1.25', () => {
    expect(boxCenterScale([10, 20, 30, 80], 0.75)).toEqual({ center: [25, 60], scale: [0.375, 0.5] });
    const wide = boxCenterScale([0, 0, 100, 50], 0.75);
    expect(wide.center).toEqual([50, 25]);
    close(wide.scale, [0.625, (100 / 0.75 / 200) * 1.25]);
    expect(boxCenterScale([0, 0, 60, 80], 0.75, 1).scale).toEqual([0.3, 0.4]);
  });

  it('refuses boxes and aspects that are not numbers', () => {
    expect(() => boxCenterScale([0, 0, NaN, 1], 0.75)).toThrow(/box: expected \[x, y, width, height\]/);
    expect(() => boxCenterScale([0, 0, 1], 0.75)).toThrow(/box/);
    expect(() => boxCenterScale([0, 0, 1, 1], 0)).toThrow(/aspect: expected a positive number, got 0/);
  });
});

describe('cropAffine', () => {
  // Pinned against the reference's get_affine_transform (numpy, exact 3-point solve).
  it("is the reference's get_affine_transform", () => {
    close(
      cropAffine([120.5, 80.25], [0.9, 1.2], 30, 192, 256),
      [
        0.9237604307034012, 0.5333333333333333, -58.11313189975984, -0.5333333333333332, 0.9237604307034011,
        118.13489210271871,
      ],
    );
    close(
      cropAffine([120.5, 80.25], [0.9, 1.2], 30, 192, 256, true),
      [0.8118988160479113, -0.46875, 102.55771365940052, 0.46875, 0.8118988160479113, -68.67304845413264],
    );
  });

  it('maps the centre to the crop centre and 100 scale_w pixels above it to (96, 32) at 192x256', () => {
    const t = cropAffine([50, 70], [0.6, 0.8], 0, 192, 256);
    close(applyAffine(t, 50, 70), [96, 128]);
    close(applyAffine(t, 50, 70 - 60), [96, 32]);
    // Uniform: the 120-pixel-wide box fills the 192-pixel crop.
    close(applyAffine(t, 50 - 60, 70), [0, 128]);
  });

  it('maps points back through its inverse, for any rotation', () => {
    for (const r of [0, 17, -45, 90, 180]) {
      const t = cropAffine([33.3, 12.1], [0.41, 0.55], r, 48, 64);
      const back = cropAffine([33.3, 12.1], [0.41, 0.55], r, 48, 64, true);
      close(invertAffine(t), back, 9);
      for (const [x, y] of [
        [0, 0],
        [12.5, 100],
        [-7, 3],
      ]) {
        const [u, v] = applyAffine(t, x, y);
        close(applyAffine(back, u, v), [x, y], 6);
      }
    }
  });

  it('at 90 degrees takes what is right of the centre to above the crop centre', () => {
    const t = cropAffine([100, 100], [0.5, 0.5], 90, 64, 64);
    // scale 0.5 = 100 px onto 64 px: 50 px right of the centre goes 32 px up.
    close(applyAffine(t, 150, 100), [32, 0]);
    close(applyAffine(t, 100, 150), [64, 32]);
  });

  it('refuses a zero scale and bad sizes', () => {
    expect(() => cropAffine([0, 0], [0, 1], 0, 8, 8)).toThrow(/scale: expected/);
    expect(() => cropAffine([0, 0], [1, 1], 0, 0, 8)).toThrow(/outWidth x outHeight/);
    expect(() => cropAffine([0, NaN], [1, 1], 0, 8, 8)).toThrow(/center/);
  });
});

describe('affineFromPoints / invertAffine', () => {
  it('solves three correspondences exactly and refuses collinear points', () => {
    const t = affineFromPoints(
      [
        [0, 0],
        [1, 0],
        [0, 1],
      ],
      [
        [5, 6],
        [7, 6],
        [5, 9],
      ],
    );
    close(t, [2, 0, 5, 0, 3, 6]);
    close(invertAffine(t), [0.5, 0, -2.5, 0, 1 / 3, -2]);
    expect(() =>
      affineFromPoints(
        [
          [0, 0],
          [1, 1],
          [2, 2],
        ],
        [
          [0, 0],
          [1, 0],
          [0, 1],
        ],
      ),
    ).toThrow(/three points not on one line/);
    expect(() => invertAffine([0, 0, 1, 0, 0, 1])).toThrow(/invertible/);
  });
});

describe('warpAffine', () => {
  // A 4x3 two-channel ramp: channel 0 = 10 x, channel 1 = 10 y.
  const w = 4;
  const h = 3;
  const ramp = new Float32Array(w * h * 2);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      ramp[(y * w + x) * 2] = 10 * x;
      ramp[(y * w + x) * 2 + 1] = 10 * y;
    }

  it('copies through the identity and shifts by whole pixels with zeros coming in', () => {
    expect(warpAffine(ramp, w, h, 2, [1, 0, 0, 0, 1, 0], w, h)).toEqual(ramp);
    const shifted = warpAffine(ramp, w, h, 2, [1, 0, 1, 0, 1, 0], w, h);
    // Output x reads source x - 1: column 0 is outside.
    expect(Array.from(shifted.slice(0, 8))).toEqual([0, 0, 0, 0, 10, 0, 20, 0]);
  });

  it('interpolates bilinearly at half pixels, border taps counting as 0', () => {
    // Output (X, Y) reads source (X + 0.5, Y): the ramp's midpoints, the last column half outside.
    const out = warpAffine(ramp, w, h, 2, [1, 0, -0.5, 0, 1, 0], w, h);
    expect(Array.from(out.slice(0, 8))).toEqual([5, 0, 15, 0, 25, 0, 15, 0]);
  });

  it('mirrors with x -> W - 1 - x and rounds bytes', () => {
    const bytes = new Uint8Array([0, 50, 100, 200]);
    expect(Array.from(warpAffine(bytes, 4, 1, 1, [-1, 0, 3, 0, 1, 0], 4, 1))).toEqual([200, 100, 50, 0]);
    const half = warpAffine(bytes, 4, 1, 1, [1, 0, -0.25, 0, 1, 0], 4, 1);
    expect(half).toBeInstanceOf(Uint8Array);
    // 0.75*50 + 0.25*100 = 62.5 rounds to 63; the last pixel reads 0.75*200 + 0.25*0 = 150.
    expect(Array.from(half)).toEqual([13, 63, 125, 150]);
  });

  it('places a crop through cropAffine: a bright dot lands at its mapped position', () => {
    const size = 40;
    const img = new Uint8Array(size * size * 3);
    const dot = [27, 11];
    for (let c = 0; c < 3; c++) img[(dot[1] * size + dot[0]) * 3 + c] = 255;
    const t = cropAffine([20, 20], [0.2, 0.2], 25, 40, 40);
    const crop = warpAffine(img, size, size, 3, t, 40, 40);
    let best = -1;
    let at = [0, 0];
    for (let y = 0; y < 40; y++)
      for (let x = 0; x < 40; x++)
        if (crop[(y * 40 + x) * 3] > best) {
          best = crop[(y * 40 + x) * 3];
          at = [x, y];
        }
    const [u, v] = applyAffine(t, dot[0], dot[1]);
    expect(Math.abs(at[0] - u)).toBeLessThanOrEqual(1);
    expect(Math.abs(at[1] - v)).toBeLessThanOrEqual(1);
  });

  it('refuses a pixel buffer of the wrong size and a singular transform', () => {
    expect(() => warpAffine(new Uint8Array(5), 2, 2, 1, [1, 0, 0, 0, 1, 0], 2, 2)).toThrow(
      /pixels: expected 2x2x1 values, got "5 values"/,
    );
    expect(() => warpAffine(new Uint8Array(4), 2, 2, 1, [1, 1, 0, 1, 1, 0], 2, 2)).toThrow(/invertible/);
    expect(() => warpAffine(new Uint8Array(4), 2, 2, 1, [1, 0, 0, 0, 1, 0], 0, 2)).toThrow(/outWidth/);
  });
});
