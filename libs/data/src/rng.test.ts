import { DataError } from './errors';
import { deriveSeed, Rng } from './rng';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference C implementation from state [1, 2, 3, 4]', () => {
    // First outputs of xoshiro128starstar.c (Blackman and Vigna) compiled with gcc.
    const rng = Rng.fromState({ algorithm: 'xoshiro128**', state: [1, 2, 3, 4] });
    const got = Array.from({ length: 8 }, () => rng.nextUint32());
    expect(got).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]);
  });

  it('resumes identically from a JSON round trip of its state', () => {
    const a = Rng.fromSeed(42);
    for (let i = 0; i < 1000; i++) a.nextUint32();
    const saved = JSON.parse(JSON.stringify(a.getState()));
    const b = Rng.fromState(saved);
    const fromA = [a.nextFloat(), a.nextInt(7), ...a.permutation(20)];
    const fromB = [b.nextFloat(), b.nextInt(7), ...b.permutation(20)];
    expect(fromB).toEqual(fromA);
  });

  it('is deterministic by seed and differs between seeds', () => {
    const draw = (seed: number): number[] => {
      const r = Rng.fromSeed(seed);
      return Array.from({ length: 16 }, () => r.nextUint32());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(draw(2 ** 40)).not.toEqual(draw(0));
  });

  it('draws floats in [0, 1) and unbiased integers in range', () => {
    const rng = Rng.fromSeed(1);
    const counts = new Array(6).fill(0);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 60000; i++) {
      const f = rng.nextFloat();
      if (!(f >= 0 && f < 1)) outside++;
      sum += f;
      counts[rng.nextInt(6)]++;
    }
    expect(outside).toBe(0);
    expect(sum / 60000).toBeCloseTo(0.5, 2);
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    expect(rng.nextInt(1)).toBe(0);
    const big = rng.nextInt(2 ** 32);
    expect(big >= 0 && big < 2 ** 32).toBe(true);
  });

  it('makes permutations', () => {
    const p = Rng.fromSeed(3).permutation(1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Rng.fromSeed(3).permutation(0)).toHaveLength(0);
  });

  it('clones without sharing state', () => {
    const a = Rng.fromSeed(5);
    const b = a.clone();
    expect(b.nextUint32()).toBe(a.nextUint32());
    a.nextUint32();
    expect(b.getState()).not.toEqual(a.getState());
  });

  it('refuses bad seeds and states, naming the field and value', () => {
    expect(() => Rng.fromSeed(-1)).toThrow(/seed: expected an integer in \[0, 9007199254740991\], got -1/);
    expect(() => Rng.fromSeed(1.5)).toThrow(DataError);
    expect(() => Rng.fromSeed(NaN)).toThrow(/got NaN/);
    expect(() => Rng.fromState({ algorithm: 'mt19937' } as never)).toThrow(/rngState.algorithm.*"mt19937"/);
    expect(() => Rng.fromState({ algorithm: 'xoshiro128**', state: [1, 2, 3] } as never)).toThrow(
      /rngState.state: expected an array of 4/,
    );
    expect(() => Rng.fromState({ algorithm: 'xoshiro128**', state: [1, 2, 3, 2 ** 32] })).toThrow(
      /rngState.state\[3\].*4294967296/,
    );
    expect(() => Rng.fromState({ algorithm: 'xoshiro128**', state: [0, 0, 0, 0] })).toThrow(/non-zero state/);
    expect(() => Rng.fromState(null as never)).toThrow(DataError);
    expect(() => Rng.fromSeed(1).nextInt(0)).toThrow(/n: expected an integer in \[1, 4294967296\], got 0/);
  });
});

describe('deriveSeed', () => {
  it('gives distinct, reproducible seeds per path', () => {
    const seen = new Set<number>();
    for (let e = 0; e < 10; e++) for (let b = 0; b < 100; b++) seen.add(deriveSeed(1, e, b));
    expect(seen.size).toBe(1000);
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
    expect(deriveSeed(1, 2, 3)).not.toBe(deriveSeed(1, 3, 2));
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(1));
    expect(() => deriveSeed(1, -2)).toThrow(/path\[0\]/);
  });
});
