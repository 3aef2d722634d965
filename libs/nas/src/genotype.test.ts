import {
  GenotypeError,
  OP_NAMES,
  PRIMITIVES,
  cloneGenotype,
  genotypeFromJson,
  genotypesEqual,
  validateGenotype,
  type Genotype,
} from './genotype';

const valid = (): Genotype => ({
  normal: [
    ['sep_conv_3x3', 0],
    ['sep_conv_3x3', 1],
    ['skip_connect', 0],
    ['dil_conv_3x3', 2],
  ],
  normalConcat: [2, 3],
  reduce: [
    ['max_pool_3x3', 0],
    ['max_pool_3x3', 1],
    ['skip_connect', 2],
    ['avg_pool_3x3', 1],
  ],
  reduceConcat: [2, 3],
});

/** A copy of `valid()` with one change applied. */
function broken(change: (g: Genotype) => void): Genotype {
  const g = valid();
  change(g);
  return g;
}

describe('op tables', () => {
  it('lists the seven search primitives in encoding order and the ten ops overall', () => {
    expect(PRIMITIVES).toEqual([
      'max_pool_3x3',
      'avg_pool_3x3',
      'skip_connect',
      'sep_conv_3x3',
      'sep_conv_5x5',
      'dil_conv_3x3',
      'dil_conv_5x5',
    ]);
    expect(new Set(OP_NAMES).size).toBe(10);
  });
});

describe('validateGenotype', () => {
  it('accepts a 2-step genotype, one step, many steps, and any concat list', () => {
    expect(() => validateGenotype(valid())).not.toThrow();
    const oneStep: Genotype = {
      normal: [
        ['none', 0],
        ['conv_7x1_1x7', 1],
      ],
      normalConcat: [2],
      reduce: [
        ['sep_conv_7x7', 1],
        ['skip_connect', 0],
      ],
      reduceConcat: [0, 1, 2],
    };
    expect(() => validateGenotype(oneStep)).not.toThrow();
    const steps = 12;
    const edges = Array.from({ length: 2 * steps }, (_, e): Genotype['normal'][number] => [
      'sep_conv_5x5',
      Math.floor(e / 2) + 1,
    ]);
    const concat = [13, 2, 7];
    expect(() =>
      validateGenotype({ normal: edges, normalConcat: concat, reduce: edges, reduceConcat: concat }),
    ).not.toThrow();
  });

  it.each<[string, Genotype, string]>([
    [
      'an input past the node',
      broken((g) => (g.normal[3][1] = 5)),
      'genotype: normal[3]: input 5 out of range 0..2 for node 1',
    ],
    [
      'an input reading the node itself',
      broken((g) => (g.reduce[1][1] = 2)),
      'genotype: reduce[1]: input 2 out of range 0..1 for node 0',
    ],
    [
      'a negative input',
      broken((g) => (g.normal[0][1] = -1)),
      'normal[0]: input -1 out of range 0..1 for node 0',
    ],
    ['a fractional input', broken((g) => (g.normal[2][1] = 0.5)), 'normal[2]: input 0.5 out of range 0..2'],
    [
      'a string input',
      broken((g) => (g.normal[2][1] = '1' as unknown as number)),
      'normal[2]: input "1" out of range',
    ],
    [
      'an unknown op',
      broken((g) => (g.reduce[2][0] = 'conv_9x9' as 'none')),
      'genotype: reduce[2]: unknown op "conv_9x9"; expected one of max_pool_3x3, avg_pool_3x3',
    ],
    [
      'an op named after a prototype member',
      broken((g) => (g.normal[0][0] = 'constructor' as 'none')),
      'normal[0]: unknown op "constructor"',
    ],
    [
      'an odd edge count',
      broken((g) => g.normal.pop()),
      'genotype: normal: expected an even number of edges (2 per node), got 3',
    ],
    [
      'no edges',
      broken((g) => (g.reduce = [])),
      'genotype: reduce: a cell needs at least one node (2 edges), got none',
    ],
    [
      'an edge that is not a pair',
      broken((g) => (g.normal[1] = ['skip_connect'] as unknown as Genotype['normal'][number])),
      'normal[1]: expected [op, input], got ["skip_connect"]',
    ],
    ['missing edges', broken((g) => delete (g as Partial<Genotype>).normal), 'normal: expected an array'],
    [
      'an empty concat',
      broken((g) => (g.normalConcat = [])),
      'normalConcat: a cell must output at least one state',
    ],
    [
      'a concat state past the last node',
      broken((g) => (g.reduceConcat = [2, 4])),
      'genotype: reduceConcat[1]: state 4 out of range 0..3',
    ],
    [
      'a negative concat state',
      broken((g) => (g.normalConcat = [-1])),
      'normalConcat[0]: state -1 out of range',
    ],
    [
      'a duplicated concat state',
      broken((g) => (g.normalConcat = [2, 3, 2])),
      'normalConcat[2]: state 2 listed twice',
    ],
    [
      'a missing concat',
      broken((g) => delete (g as Partial<Genotype>).reduceConcat),
      'reduceConcat: expected an array',
    ],
  ])('rejects %s, naming it', (_label, genotype, message) => {
    expect(() => validateGenotype(genotype)).toThrow(GenotypeError);
    expect(() => validateGenotype(genotype)).toThrow(message);
  });

  it.each([null, undefined, 42, 'DARTS_V2', []])('rejects %j as a whole', (value) => {
    expect(() => validateGenotype(value as unknown as Genotype, 'g.json')).toThrow(
      /^g\.json: expected a genotype object/,
    );
  });

  it('prefixes errors with the source', () => {
    expect(() =>
      validateGenotype(
        broken((g) => (g.normal[0][1] = 9)),
        'mine.json',
      ),
    ).toThrow('mine.json: normal[0]: input 9 out of range 0..1 for node 0');
  });
});

describe('genotypeFromJson', () => {
  it('parses the JSON form into an independent copy', () => {
    const text = JSON.stringify(valid());
    const value = JSON.parse(text);
    const genotype = genotypeFromJson(value);
    expect(genotypesEqual(genotype, valid())).toBe(true);
    value.normal[0][0] = 'none';
    expect(genotype.normal[0][0]).toBe('sep_conv_3x3');
  });

  it.each<[string, unknown, string]>([
    ['null', null, 'genotype: '],
    ['an array', [], 'genotype: '],
    ['a missing field', { normal: [], normalConcat: [], reduce: [] }, 'genotype: reduceConcat: '],
    ['a snake_case field', { ...valid(), normal_concat: [2, 3] }, 'normal_concat'],
    [
      'an edge as an object',
      { ...valid(), normal: [{ op: 'skip_connect', input: 0 }] },
      'genotype: normal[0]: ',
    ],
    [
      'a numeric op',
      {
        ...valid(),
        reduce: [
          [3, 0],
          ['skip_connect', 1],
        ],
      },
      'genotype: reduce[0][0]: ',
    ],
    ['a string concat', { ...valid(), normalConcat: ['2'] }, 'genotype: normalConcat[0]: '],
    ['a hostile key', JSON.parse('{"__proto__": {"polluted": 1}, "normal": []}'), 'genotype: '],
    [
      'an out-of-range input',
      broken((g) => (g.normal[3][1] = 5)),
      'genotype: normal[3]: input 5 out of range 0..2',
    ],
    ['an unknown op', broken((g) => (g.normal[0][0] = 'conv' as 'none')), 'normal[0]: unknown op "conv"'],
  ])('rejects %s with the path of the bad field', (_label, value, message) => {
    expect(() => genotypeFromJson(value)).toThrow(GenotypeError);
    expect(() => genotypeFromJson(value)).toThrow(message);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('cloneGenotype / genotypesEqual', () => {
  it('copies deeply and compares by value', () => {
    const a = valid();
    const b = cloneGenotype(a);
    expect(genotypesEqual(a, b)).toBe(true);
    b.reduce[3][1] = 0;
    expect(a.reduce[3][1]).toBe(1);
    expect(genotypesEqual(a, b)).toBe(false);
    expect(
      genotypesEqual(
        a,
        broken((g) => (g.normalConcat = [3, 2])),
      ),
    ).toBe(false);
    expect(
      genotypesEqual(
        a,
        broken((g) => (g.normal[0][0] = 'none')),
      ),
    ).toBe(false);
  });
});
