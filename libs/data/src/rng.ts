import { checkInt, invalidArgument } from './errors';

/**
 * Seeded random numbers with a state that serialises to plain JSON, so a search checkpoint can
 * store it and resume with exactly the same draws. xoshiro128** (Blackman and Vigna): 32-bit
 * arithmetic only, which JavaScript does exactly with Math.imul and unsigned shifts.
 */
export interface RngState {
  algorithm: 'xoshiro128**';
  state: [number, number, number, number];
}

const TWO_POW_32 = 2 ** 32;

/** splitmix32 finaliser: a bijective hash that spreads nearby seeds over the whole state space. */
function mix32(x: number): number {
  let t = (x + 0x9e3779b9) | 0;
  t = Math.imul(t ^ (t >>> 16), 0x21f0aaad);
  t = Math.imul(t ^ (t >>> 15), 0x735a2d97);
  return (t ^ (t >>> 15)) >>> 0;
}

function checkSeed(field: string, seed: unknown): number {
  return checkInt(field, seed, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * A seed derived from a seed and a path of indices (epoch, batch, ...): independent streams
 * without drawing from a shared generator, so batch k is the same however many came before it.
 */
export function deriveSeed(seed: number, ...path: number[]): number {
  checkSeed('seed', seed);
  let h = mix32((seed >>> 0) ^ mix32(Math.floor(seed / TWO_POW_32)));
  path.forEach((index, i) => {
    checkSeed(`path[${i}]`, index);
    h = mix32(h ^ mix32((index >>> 0) ^ mix32(Math.floor(index / TWO_POW_32) + i + 1)));
  });
  return h;
}

export class Rng {
  // Held as int32 words: unsigned values above 2^31 would be boxed as heap numbers on every draw.
  private readonly s: Int32Array;

  private constructor(state: readonly number[]) {
    this.s = Int32Array.from(state, (w) => w | 0);
  }

  /** A generator seeded from any non-negative safe integer. */
  static fromSeed(seed: number): Rng {
    let x = deriveSeed(seed);
    const state: number[] = [];
    for (let i = 0; i < 4; i++) {
      x = mix32(x);
      state.push(x);
    }
    // The all-zero state is the one fixed point of xoshiro; mix32 makes it practically impossible.
    if (!state.some((v) => v !== 0)) state[0] = 1;
    return new Rng(state);
  }

  /** A generator continuing exactly where the one that produced `state` stopped. */
  static fromState(state: RngState): Rng {
    if (state === null || typeof state !== 'object' || state.algorithm !== 'xoshiro128**') {
      throw invalidArgument('rngState.algorithm', state?.algorithm, '"xoshiro128**"');
    }
    const words = state.state;
    if (!Array.isArray(words) || words.length !== 4) {
      throw invalidArgument('rngState.state', words, 'an array of 4 unsigned 32-bit integers');
    }
    words.forEach((w, i) => checkInt(`rngState.state[${i}]`, w, 0, TWO_POW_32 - 1));
    if (words.every((w) => w === 0)) {
      throw invalidArgument('rngState.state', '[0,0,0,0]', 'a non-zero state');
    }
    return new Rng(words);
  }

  getState(): RngState {
    const s = this.s;
    return { algorithm: 'xoshiro128**', state: [s[0] >>> 0, s[1] >>> 0, s[2] >>> 0, s[3] >>> 0] };
  }

  clone(): Rng {
    return new Rng(Array.from(this.s));
  }

  /** The next 32-bit output, as an unsigned integer. */
  nextUint32(): number {
    // Multiplications by 5 and 9 as shifts and adds: exact mod 2^32 and free of global lookups
    // (which are slow inside jest's vm contexts).
    const s = this.s;
    const m = ((s[1] << 2) + s[1]) | 0;
    const r = (m << 7) | (m >>> 25);
    const result = ((r << 3) + r) | 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >>> 21);
    return result >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias; n in [1, 2^32]. */
  nextInt(n: number): number {
    checkInt('n', n, 1, TWO_POW_32);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Fisher-Yates, in place; returns the array. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    checkInt('n', n, 0, 2 ** 31 - 1);
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}
