// The SIMD ceiling (ceiling.ts): the peak loop does exactly the arithmetic it counts, and the
// measurement reports rates (never their size: that is the machine's) and refuses a bad duration.
import { measureSimdCeiling } from './ceiling';
import { PEAK_CHAINS, simdPeakLoop } from './simd';

describe('simdPeakLoop', () => {
  const loop = simdPeakLoop();

  it('exists where WebAssembly SIMD does (Node 20) and counts a multiply and an add per lane', () => {
    expect(loop).not.toBeNull();
    expect(loop?.flopsPerIteration).toBe(PEAK_CHAINS * 4 * 2);
    expect(typeof loop?.fused).toBe('boolean');
  });

  it('adds x * y to every one of its sums once per iteration', () => {
    if (loop === null) throw new Error('no SIMD');
    // Whole numbers: exact whether the multiply-adds are fused or not.
    expect(loop.run(1000, 1, 1)).toBe(PEAK_CHAINS * 1000);
    expect(loop.run(37, 2, 3)).toBe(PEAK_CHAINS * 37 * 6);
    expect(loop.run(5, -4, 0.5)).toBe(PEAK_CHAINS * 5 * -2);
  });

  it('does nothing for zero iterations', () => {
    if (loop === null) throw new Error('no SIMD');
    expect(loop.run(0, 1, 1)).toBe(0);
  });
});

describe('measureSimdCeiling', () => {
  it('reports positive, finite rates for the peak loop and the product kernel', () => {
    const c = measureSimdCeiling(0.05);
    for (const g of [c.peakGflops, c.productGflops]) {
      expect(Number.isFinite(g)).toBe(true);
      expect(g).toBeGreaterThan(0);
    }
    expect(c.fused).toBe(simdPeakLoop()?.fused);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY * -1])('refuses %p seconds, naming the value', (s) => {
    expect(() => measureSimdCeiling(s)).toThrow(`seconds must be positive, got ${s}`);
  });
});
