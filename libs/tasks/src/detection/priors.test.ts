import { resolveDetectionConfig, SSDLITE_CONFIG } from './config';
import { priorBoxes, priorCount, REFERENCE_FEATURE_MAPS } from './priors';

/** Prior `i` as [cx, cy, w, h]. */
function prior(table: Float32Array, i: number): number[] {
  return Array.from(table.subarray(4 * i, 4 * i + 4));
}

function expectPrior(table: Float32Array, i: number, expected: number[]): void {
  prior(table, i).forEach((v, k) => expect(v).toBeCloseTo(expected[k], 6));
}

describe('priorBoxes', () => {
  const table = priorBoxes(SSDLITE_CONFIG, REFERENCE_FEATURE_MAPS);

  it('gives the reference table at 320: 3234 priors, 6 per location, map by map, rows then columns', () => {
    expect(table.length).toBe(3234 * 4);
    expect(priorCount(SSDLITE_CONFIG, REFERENCE_FEATURE_MAPS)).toBe(3234);
    // Map 0 (20x20, scale 320/16 = 20), location (0, 0): min 60, √(60·105), then ratios 2 and 3.
    const r2 = Math.SQRT2;
    const r3 = Math.sqrt(3);
    const s = 60 / 320;
    expectPrior(table, 0, [0.025, 0.025, s, s]);
    expectPrior(table, 1, [0.025, 0.025, Math.sqrt(6300) / 320, Math.sqrt(6300) / 320]);
    expectPrior(table, 2, [0.025, 0.025, s * r2, s / r2]);
    expectPrior(table, 3, [0.025, 0.025, s / r2, s * r2]);
    expectPrior(table, 4, [0.025, 0.025, s * r3, s / r3]);
    expectPrior(table, 5, [0.025, 0.025, s / r3, s * r3]);
    // The next column, then the start of the next row.
    expectPrior(table, 6, [0.075, 0.025, s, s]);
    expectPrior(table, 20 * 6, [0.025, 0.075, s, s]);
    // Map 1 (10x10, scale 10) starts after 400 locations.
    expectPrior(table, 2400, [0.05, 0.05, 105 / 320, 105 / 320]);
  });

  it('keeps the off-grid centres of the 3x3, 2x2 and 1x1 maps and clamps to [0, 1]', () => {
    // Map 3: scale 320/100 = 3.2, so the centres are 0.5/3.2 and 2.5/3.2, not 1/6 and 5/6.
    expectPrior(table, 3150, [0.15625, 0.15625, 195 / 320, 195 / 320]);
    expectPrior(table, 3150 + 8 * 6 + 1, [
      0.78125,
      0.78125,
      Math.sqrt(195 * 240) / 320,
      Math.sqrt(195 * 240) / 320,
    ]);
    // Map 4: scale 320/150.
    expectPrior(table, 3204 + 3 * 6, [0.703125, 0.703125, 240 / 320, 240 / 320]);
    // Map 5 (1x1): scale 320/300, centre 0.46875; 330/320 and the wide boxes clamp to 1.
    const s = 285 / 320;
    expectPrior(table, 3228, [0.46875, 0.46875, s, s]);
    expectPrior(table, 3229, [0.46875, 0.46875, Math.sqrt(285 * 330) / 320, Math.sqrt(285 * 330) / 320]);
    expectPrior(table, 3230, [0.46875, 0.46875, 1, s / Math.SQRT2]);
    expectPrior(table, 3233, [0.46875, 0.46875, s / Math.sqrt(3), 1]);
    expect(table.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('scales to another input: sizes stay boxSizes/320, each map keeps its relative centres', () => {
    const config = resolveDetectionConfig({ inputSize: 128, aspectRatios: [2] });
    const small = priorBoxes(config, [8, 4, 2, 1, 1, 1]);
    expect(small.length).toBe((64 + 16 + 4 + 1 + 1 + 1) * 4 * 4);
    expectPrior(small, 0, [0.0625, 0.0625, 60 / 320, 60 / 320]);
    expectPrior(small, 4, [0.1875, 0.0625, 60 / 320, 60 / 320]);
    // Map 3 at 1x1: scale (1/3)·3.2; map 5: scale 320/300 as at 320.
    expectPrior(small, (64 + 16 + 4) * 4, [0.46875, 0.46875, 195 / 320, 195 / 320]);
    expectPrior(small, (64 + 16 + 4 + 2) * 4, [0.46875, 0.46875, 285 / 320, 285 / 320]);
  });

  it.each([
    [[20, 10, 5, 3, 2], /expected 6 feature maps and 7 box sizes, got 5 and 7/],
    [[20, 10, 5, 3, 2, 0], /feature map 5 has size 0, expected an integer in \[1, 4096\]/],
    [[20, 10, 5.5, 3, 2, 1], /feature map 2 has size 5.5/],
    [[20, 10, 5, 3, 2, Number.NaN], /feature map 5 has size NaN/],
    [[1e9, 10, 5, 3, 2, 1], /feature map 0 has size 1000000000/],
  ])('refuses feature map sizes %j', (sizes, message) => {
    expect(() => priorBoxes(SSDLITE_CONFIG, sizes)).toThrow(message);
  });
});
