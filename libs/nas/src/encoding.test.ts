import {
  clipToBounds,
  decodeIndex,
  decodeVector,
  encodeGenotype,
  encodingBounds,
  encodingLength,
  randomVector,
} from './encoding';
import { GenotypeError, PRIMITIVES, genotypesEqual, validateGenotype, type Genotype } from './genotype';
import { PUBLISHED_GENOTYPES, PUBLISHED_GENOTYPE_NAMES, getPublishedGenotype } from './genotypes';

/** mulberry32: a small seeded generator, uniform in [0, 1), so the property tests are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const usesOnlyPrimitives = (g: Genotype): boolean =>
  [...g.normal, ...g.reduce].every(([op]) => (PRIMITIVES as readonly string[]).includes(op));

describe('encodingBounds', () => {
  it('gives 32 coordinates for 4 steps: [in1, op1, in2, op2] per node, normal then reduce', () => {
    expect(encodingLength(4)).toBe(32);
    const { lower, upper } = encodingBounds(4);
    expect(lower).toEqual(new Array(32).fill(0));
    const cell = [2, 7, 2, 7, 3, 7, 3, 7, 4, 7, 4, 7, 5, 7, 5, 7];
    expect(upper).toEqual([...cell, ...cell]);
  });

  it('follows the steps and the primitives list', () => {
    expect(encodingBounds(1, ['skip_connect', 'none']).upper).toEqual([2, 2, 2, 2, 2, 2, 2, 2]);
    expect(encodingBounds(6).upper).toHaveLength(encodingLength(6));
    expect(encodingBounds(6).upper.slice(20, 24)).toEqual([7, 7, 7, 7]);
  });

  it.each([0, -1, 1.5, NaN, Infinity])('rejects %p steps', (steps) => {
    expect(() => encodingBounds(steps)).toThrow(`steps must be a positive integer, got ${steps}`);
    expect(() => encodingLength(steps)).toThrow('steps must be a positive integer');
  });

  it.each<[readonly string[], string]>([
    [[], 'primitives must be a non-empty list'],
    [['sep_conv_3x3', 'conv_9x9'], 'primitives[1] "conv_9x9" is not a known op'],
    [['skip_connect', 'skip_connect'], 'primitives[1] "skip_connect" is listed twice'],
  ])('rejects the primitives %j', (primitives, message) => {
    expect(() => encodingBounds(4, primitives)).toThrow(message);
  });
});

describe('decodeIndex (the integer rule of section 5)', () => {
  it.each([
    [0, 7, 0],
    [0.5, 7, 0],
    [1, 7, 0],
    [1.5, 7, 1],
    [2, 7, 1],
    [6.5, 7, 6],
    [6.999999, 7, 6],
    [7, 7, 6],
    [1e-12, 2, 0],
    [2, 2, 1],
    [1, 1, 0],
  ])('decodes %p with upper bound %p to %p', (v, upper, index) => {
    expect(decodeIndex(v, upper)).toBe(index);
  });

  it('maps every value in [0, u] into 0..u-1', () => {
    for (let u = 1; u <= 8; u++) {
      for (let k = 0; k <= 400; k++) {
        const index = decodeIndex((u * k) / 400, u);
        expect(index).toBeGreaterThanOrEqual(0);
        expect(index).toBeLessThan(u);
      }
    }
  });

  it.each([-0.1, 7.0001, NaN, Infinity, -Infinity])('rejects %p outside [0, 7]', (v) => {
    expect(() => decodeIndex(v, 7)).toThrow(`value ${v} outside its bounds [0, 7]`);
  });
});

describe('decodeVector', () => {
  it('decodes the coordinates in order: edge 2j = (op1, in1), edge 2j+1 = (op2, in2)', () => {
    const normal = [0.5, 3.5, 1, 7, 2.5, 5, 0, 0.2];
    const reduce = [2, 0, 0.1, 2.9, 3, 6.5, 1.9999, 4.4];
    const genotype = decodeVector([...normal, ...reduce]);
    expect(genotype).toEqual({
      normal: [
        ['sep_conv_3x3', 0],
        ['dil_conv_5x5', 0],
        ['sep_conv_5x5', 2],
        ['max_pool_3x3', 0],
      ],
      normalConcat: [2, 3],
      reduce: [
        ['max_pool_3x3', 1],
        ['skip_connect', 0],
        ['dil_conv_5x5', 2],
        ['sep_conv_5x5', 1],
      ],
      reduceConcat: [2, 3],
    });
  });

  it('decodes the upper bounds to the last primitive and the latest state', () => {
    const genotype = decodeVector(encodingBounds(4).upper);
    for (const cell of [genotype.normal, genotype.reduce]) {
      cell.forEach(([op, input], e) => {
        expect(op).toBe('dil_conv_5x5');
        expect(input).toBe(Math.floor(e / 2) + 1);
      });
    }
    const zeros = decodeVector(new Array(32).fill(0));
    expect(zeros.normal.every(([op, input]) => op === 'max_pool_3x3' && input === 0)).toBe(true);
  });

  it('decodes every seeded random vector to a valid genotype, for several step counts', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const steps = 1 + (seed % 6);
      const vector = randomVector(steps, seeded(seed));
      const genotype = decodeVector(vector);
      expect(() => validateGenotype(genotype, `seed ${seed}`)).not.toThrow();
      expect(genotype.normal).toHaveLength(2 * steps);
      expect(genotype.normalConcat).toEqual(Array.from({ length: steps }, (_, j) => j + 2));
      expect(usesOnlyPrimitives(genotype)).toBe(true);
    }
  });

  it('reaches every op and every input over many random vectors', () => {
    const ops = new Set<string>();
    const inputsOfLastNode = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const genotype = decodeVector(randomVector(4, seeded(seed)));
      for (const [op] of genotype.normal) ops.add(op);
      inputsOfLastNode.add(genotype.reduce[7][1]);
    }
    expect([...ops].sort()).toEqual([...PRIMITIVES].sort());
    expect([...inputsOfLastNode].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('uses a custom primitives list', () => {
    const genotype = decodeVector([0, 2, 1, 1.5, 2, 1, 1, 0.5], ['none', 'sep_conv_7x7']);
    expect(genotype.normal).toEqual([
      ['sep_conv_7x7', 0],
      ['sep_conv_7x7', 0],
    ]);
    expect(genotype.reduce).toEqual([
      ['none', 1],
      ['none', 0],
    ]);
  });

  it.each<[string, number[], string]>([
    ['an empty vector', [], 'vector length must be a positive multiple of 8, got 0'],
    ['a length that is not a multiple of 8', new Array(31).fill(1), 'got 31'],
    ['a value over its bound', [...new Array(31).fill(1), 7.5], 'vector[31] = 7.5 outside its bounds [0, 7]'],
    ['an input over its bound', [2.5, ...new Array(31).fill(1)], 'vector[0] = 2.5 outside its bounds [0, 2]'],
    ['a negative value', [1, -0.5, ...new Array(30).fill(1)], 'vector[1] = -0.5 outside its bounds [0, 7]'],
    ['NaN', [...new Array(8).fill(1), NaN, ...new Array(23).fill(1)], 'vector[8] = NaN outside its bounds'],
  ])('rejects %s', (_label, vector, message) => {
    expect(() => decodeVector(vector)).toThrow(message);
  });
});

describe('encodeGenotype', () => {
  const encodable = PUBLISHED_GENOTYPE_NAMES.filter((name) => usesOnlyPrimitives(PUBLISHED_GENOTYPES[name]));

  it('covers every published genotype (they use only search primitives)', () => {
    expect(encodable).toEqual([...PUBLISHED_GENOTYPE_NAMES]);
  });

  it.each(encodable)('round-trips %s, with every value in the middle of its cell', (name) => {
    const genotype = getPublishedGenotype(name);
    const vector = encodeGenotype(genotype);
    expect(vector).toHaveLength(32);
    const { lower, upper } = encodingBounds(4);
    vector.forEach((v, k) => {
      expect(v - Math.floor(v)).toBe(0.5);
      expect(v).toBeGreaterThan(lower[k]);
      expect(v).toBeLessThan(upper[k]);
    });
    expect(genotypesEqual(decodeVector(vector), genotype)).toBe(true);
  });

  it('encodes DARTS_V2 to the vector the section 5 layout implies', () => {
    const vector = encodeGenotype(getPublishedGenotype('DARTS_V2'));
    // normal node 0: (sep_conv_3x3, 0), (sep_conv_3x3, 1) -> [0.5, 3.5, 1.5, 3.5]
    expect(vector.slice(0, 4)).toEqual([0.5, 3.5, 1.5, 3.5]);
    // reduce node 3: (skip_connect, 2), (max_pool_3x3, 1) -> [2.5, 2.5, 1.5, 0.5]
    expect(vector.slice(28, 32)).toEqual([2.5, 2.5, 1.5, 0.5]);
  });

  it('round-trips decoded random vectors through encode and decode, for any steps', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const steps = 1 + (seed % 5);
      const genotype = decodeVector(randomVector(steps, seeded(seed)));
      expect(genotypesEqual(decodeVector(encodeGenotype(genotype)), genotype)).toBe(true);
    }
  });

  it('encodes with a custom primitives list', () => {
    const genotype: Genotype = {
      normal: [
        ['sep_conv_7x7', 1],
        ['none', 0],
      ],
      normalConcat: [2],
      reduce: [
        ['conv_7x1_1x7', 0],
        ['none', 1],
      ],
      reduceConcat: [2],
    };
    const primitives = ['none', 'sep_conv_7x7', 'conv_7x1_1x7'];
    const vector = encodeGenotype(genotype, primitives);
    expect(vector).toEqual([1.5, 1.5, 0.5, 0.5, 0.5, 2.5, 1.5, 0.5]);
    expect(genotypesEqual(decodeVector(vector, primitives), genotype)).toBe(true);
  });

  it.each<[string, (g: Genotype) => void, string]>([
    [
      'an op outside the primitives',
      (g) => (g.normal[5][0] = 'sep_conv_7x7'),
      'genotype: normal[5]: op "sep_conv_7x7" is not a search primitive (max_pool_3x3, avg_pool_3x3',
    ],
    ['the none op', (g) => (g.reduce[0][0] = 'none'), 'reduce[0]: op "none" is not a search primitive'],
    [
      'a partial concat',
      (g) => (g.normalConcat = [2, 3, 5]),
      'normalConcat [2,3,5] cannot be encoded: the encoding always concatenates every intermediate node, [2,3,4,5]',
    ],
    [
      'a reordered concat',
      (g) => (g.reduceConcat = [5, 4, 3, 2]),
      'reduceConcat [5,4,3,2] cannot be encoded',
    ],
    [
      'cells of different steps',
      (g) => g.reduce.push(['skip_connect', 0], ['skip_connect', 1]),
      'different step counts (normal 4, reduce 5)',
    ],
    ['an invalid genotype', (g) => (g.normal[0][1] = 3), 'normal[0]: input 3 out of range 0..1 for node 0'],
  ])('rejects %s with a clear error', (_label, change, message) => {
    const genotype = getPublishedGenotype('DARTS_V2');
    change(genotype);
    expect(() => encodeGenotype(genotype)).toThrow(GenotypeError);
    expect(() => encodeGenotype(genotype)).toThrow(message);
  });
});

describe('randomVector and clipToBounds', () => {
  it('draws in the bounds, reproducibly from the seed', () => {
    const { lower, upper } = encodingBounds(4);
    const a = randomVector(4, seeded(42));
    expect(a).toEqual(randomVector(4, seeded(42)));
    expect(a).not.toEqual(randomVector(4, seeded(43)));
    a.forEach((v, k) => {
      expect(v).toBeGreaterThanOrEqual(lower[k]);
      expect(v).toBeLessThan(upper[k]);
    });
  });

  it.each([1, -0.1, NaN, 2])('rejects a random source returning %p', (r) => {
    expect(() => randomVector(4, () => r)).toThrow(`random() must return a number in [0, 1), got ${r}`);
  });

  it('clips each coordinate into its bounds and the result decodes', () => {
    const bounds = encodingBounds(1);
    const clipped = clipToBounds([-3, 9, 2, -Infinity, 5, 0.5, Infinity, 1e9], bounds);
    expect(clipped).toEqual([0, 7, 2, 0, 2, 0.5, 2, 7]);
    expect(() => validateGenotype(decodeVector(clipped))).not.toThrow();
  });

  it('rejects NaN and a length mismatch', () => {
    const bounds = encodingBounds(1);
    expect(() => clipToBounds([0, NaN, 0, 0, 0, 0, 0, 0], bounds)).toThrow('vector[1] is NaN');
    expect(() => clipToBounds([0, 0], bounds)).toThrow('vector length 2 does not match the bounds (8)');
  });
});
