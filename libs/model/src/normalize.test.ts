import { normalizePixels } from './normalize';

describe('normalizePixels', () => {
  it("applies the model's preprocessing per channel", () => {
    const pre = { inputHeight: 1, inputWidth: 2, channels: 2, mean: [0.5, 0], std: [0.5, 2] };
    const out = normalizePixels(pre, Uint8Array.from([255, 0, 0, 255]), 1);
    expect(Array.from(out)).toEqual([1, 0, -1, Math.fround(0.5)]);
    expect(() => normalizePixels(pre, new Uint8Array(3), 1)).toThrow(
      'pixels.length: expected 1 images of 1x2x2 = 4 bytes, got 3',
    );
    expect(() => normalizePixels(pre, new Uint8Array(0), 0)).toThrow(
      'count: expected a positive integer, got 0',
    );
  });
});
