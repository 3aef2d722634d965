import { centerToCorner, cornerToCenter, decodeBoxes, encodeBoxes, iou, iouMatrix } from './boxes';

describe('boxes', () => {
  it('converts between corner and centre form', () => {
    const corners = [0.1, 0.2, 0.5, 0.8, 0, 0, 1, 1];
    const centres = cornerToCenter(corners);
    expect(Array.from(centres)).toEqual([0.3, 0.5, 0.4, 0.6, 0.5, 0.5, 1, 1].map(Math.fround));
    Array.from(centerToCorner(centres)).forEach((v, i) => expect(v).toBeCloseTo(corners[i], 6));
  });

  it('computes IoUs with the reference’s epsilon', () => {
    const a = [0, 0, 1, 1, 0, 0, 0.5, 1];
    const b = [0, 0, 1, 1, 2, 2, 3, 3, 0.5, 0, 1.5, 1];
    const m = iouMatrix(a, b);
    expect(m.length).toBe(6);
    expect(m[0]).toBeCloseTo(1 / (1 + 1e-5), 7);
    expect(m[1]).toBe(0);
    expect(m[2]).toBeCloseTo(0.5 / 1.5, 5);
    expect(m[3]).toBeCloseTo(0.5, 4);
    expect(m[5]).toBe(0);
    // An empty (inverted) box has no area.
    expect(iou([0.5, 0.5, 0.4, 0.4], 0, [0, 0, 1, 1], 0)).toBe(0);
  });

  it('encodes with variances 0.1 and 0.2 and decodes back', () => {
    const priors = [0.5, 0.5, 0.2, 0.4, 0.1, 0.9, 0.3, 0.3];
    const boxes = [0.52, 0.46, 0.3, 0.2, 0.1, 0.9, 0.3, 0.3];
    const enc = encodeBoxes(boxes, priors);
    const expected = [
      0.02 / 0.2 / 0.1,
      -0.04 / 0.4 / 0.1,
      Math.log(1.5) / 0.2,
      Math.log(0.5) / 0.2,
      0,
      0,
      0,
      0,
    ];
    Array.from(enc).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    Array.from(decodeBoxes(enc, priors)).forEach((v, i) => expect(v).toBeCloseTo(boxes[i], 6));
    expect(() => encodeBoxes([0, 0, 1, 1], priors)).toThrow(
      /encode: expected one box per prior, got 4 and 8 values/,
    );
    expect(() => decodeBoxes([0, 0, 1], [0, 0, 1])).toThrow(/decode: expected one box per prior/);
  });
});
