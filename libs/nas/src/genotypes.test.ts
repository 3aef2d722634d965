import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenotypeError, genotypesEqual, validateGenotype } from './genotype';
import {
  PUBLISHED_GENOTYPES,
  PUBLISHED_GENOTYPE_NAMES,
  getPublishedGenotype,
  parseGenotypeArg,
  resolveGenotype,
} from './genotypes';
import { designGenotypesFile } from '@rnas/fixtures';

describe('published genotypes', () => {
  it('equal design/genotypes.json, name for name and edge for edge', () => {
    const design = JSON.parse(readFileSync(designGenotypesFile(), 'utf8')) as Record<string, unknown>;
    expect([...PUBLISHED_GENOTYPE_NAMES].sort()).toEqual(Object.keys(design).sort());
    for (const name of PUBLISHED_GENOTYPE_NAMES) {
      expect(JSON.parse(JSON.stringify(PUBLISHED_GENOTYPES[name]))).toEqual(design[name]);
    }
  });

  it('are all valid 4-step genotypes', () => {
    for (const name of PUBLISHED_GENOTYPE_NAMES) {
      expect(() => validateGenotype(PUBLISHED_GENOTYPES[name], name)).not.toThrow();
      expect(PUBLISHED_GENOTYPES[name].normal).toHaveLength(8);
    }
    expect(PUBLISHED_GENOTYPES.DARTS_V2.normal[7]).toEqual(['dil_conv_3x3', 2]);
  });

  it('are frozen, and getPublishedGenotype hands out copies', () => {
    expect(() => PUBLISHED_GENOTYPES.DARTS_V2.normal.push(['none', 0])).toThrow(TypeError);
    expect(() => {
      PUBLISHED_GENOTYPES.DARTS_V2.normal[0][1] = 1;
    }).toThrow(TypeError);
    const copy = getPublishedGenotype('DARTS_V2');
    copy.normal[0][1] = 1;
    expect(PUBLISHED_GENOTYPES.DARTS_V2.normal[0][1]).toBe(0);
    expect(genotypesEqual(getPublishedGenotype('DARTS_V2'), PUBLISHED_GENOTYPES.DARTS_V2)).toBe(true);
  });

  it.each(['darts_v2', 'DARTS_V3', '', 'constructor', '__proto__', 'toString'])(
    'rejects the unknown name %j, listing the known ones',
    (name) => {
      expect(() => getPublishedGenotype(name)).toThrow(GenotypeError);
      expect(() => getPublishedGenotype(name)).toThrow(
        `unknown genotype name ${JSON.stringify(name)}; known: DARTS_V1, DARTS_V2, RelativeNAS`,
      );
    },
  );
});

describe('resolveGenotype', () => {
  it('takes a published name or a genotype object, as spec files give it', () => {
    expect(genotypesEqual(resolveGenotype('RelativeNAS'), PUBLISHED_GENOTYPES.RelativeNAS)).toBe(true);
    const object = JSON.parse(JSON.stringify(PUBLISHED_GENOTYPES.DARTS_V1));
    expect(genotypesEqual(resolveGenotype(object), PUBLISHED_GENOTYPES.DARTS_V1)).toBe(true);
    expect(() => resolveGenotype({ ...object, reduceConcat: [9] }, 'spec.json')).toThrow(
      'spec.json: reduceConcat[0]: state 9 out of range 0..5',
    );
    expect(() => resolveGenotype(7, 'spec.json')).toThrow(/^spec\.json: /);
  });
});

describe('parseGenotypeArg', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rnas-genotype-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a published name', () => {
    expect(genotypesEqual(parseGenotypeArg('DARTS_V2'), PUBLISHED_GENOTYPES.DARTS_V2)).toBe(true);
  });

  it('takes a JSON file holding a genotype object or a published name', async () => {
    const objectFile = join(dir, 'mine.json');
    await writeFile(objectFile, JSON.stringify(PUBLISHED_GENOTYPES.RelativeNAS, null, 2));
    expect(genotypesEqual(parseGenotypeArg(objectFile), PUBLISHED_GENOTYPES.RelativeNAS)).toBe(true);
    const nameFile = join(dir, 'name.json');
    await writeFile(nameFile, '"DARTS_V1"');
    expect(genotypesEqual(parseGenotypeArg(nameFile), PUBLISHED_GENOTYPES.DARTS_V1)).toBe(true);
  });

  it('names the argument when it is neither a name nor a file', () => {
    expect(() => parseGenotypeArg('DARTS_V9')).toThrow(
      '--genotype "DARTS_V9" is neither a published genotype (DARTS_V1, DARTS_V2, RelativeNAS) nor an existing JSON file',
    );
    expect(() => parseGenotypeArg(join(dir, 'missing.json'))).toThrow('nor an existing JSON file');
  });

  it.each<[string, string | Buffer, string | RegExp]>([
    ['empty', '', /empty\.json: not valid JSON/],
    ['truncated', '{"normal": [["sep_conv_3x3", 0]', /truncated\.json: not valid JSON/],
    ['not-utf8-json', Buffer.from([0xff, 0xfe, 0x00]), /not-utf8-json\.json: not valid JSON/],
    [
      'invalid',
      JSON.stringify({ ...PUBLISHED_GENOTYPES.DARTS_V2, normalConcat: [2, 2] }),
      'invalid.json: normalConcat[1]: state 2 listed twice',
    ],
    ['array', '[]', /array\.json: Invalid input: expected object, received array/],
    ['unknown-name', '"DARTS_V9"', 'unknown genotype name "DARTS_V9"'],
    [
      'huge',
      ' '.repeat((1 << 20) + 1),
      /huge\.json: cannot read: 1048577 bytes is over the 1048576-byte limit/,
    ],
  ])('rejects a file that is %s, naming the file', async (name, contents, message) => {
    const path = join(dir, `${name}.json`);
    await writeFile(path, contents);
    expect(() => parseGenotypeArg(path)).toThrow(GenotypeError);
    expect(() => parseGenotypeArg(path)).toThrow(message);
  });

  it('names a path that cannot be read as a file', () => {
    expect(() => parseGenotypeArg(dir)).toThrow(`${dir}: cannot read: EISDIR`);
  });
});
