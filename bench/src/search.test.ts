import { verdict } from './search';

describe('verdict', () => {
  const names = ['relativenas', 'random'] as const;

  it('names a winner only when every difference has one sign and the mean exceeds 2 standard errors', () => {
    const win = verdict([0.02, 0.03, 0.025], names);
    expect(win.winner).toBe('relativenas');
    expect(win.mean).toBeCloseTo(0.025, 12);
    expect(verdict([-0.02, -0.03, -0.025], names).winner).toBe('random');
  });

  it('says "no detectable difference" for mixed signs, or one sign within 2 standard errors', () => {
    const mixed = verdict([0.05, -0.01, 0.04], names);
    expect(mixed.winner).toBeNull();
    expect(mixed.text).toMatch(/^no detectable difference/);
    // Same sign, but spread so wide that the mean is within 2 standard errors of 0.
    const noisy = verdict([0.001, 0.002, 0.1], names);
    expect(noisy.mean).toBeLessThan(2 * noisy.standardError);
    expect(noisy.winner).toBeNull();
  });
});
