// The published genotypes of RELATIVENAS.md (design/genotypes.json; a test checks them against
// the copy of that file in libs/fixtures/design). They double as fixtures and as the known backbones the services serve.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cloneGenotype, genotypeFromJson, GenotypeError, type Genotype } from './genotype';

export const PUBLISHED_GENOTYPE_NAMES = ['DARTS_V1', 'DARTS_V2', 'RelativeNAS'] as const;
export type PublishedGenotypeName = (typeof PUBLISHED_GENOTYPE_NAMES)[number];

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Frozen: use `getPublishedGenotype` for a copy to change. */
export const PUBLISHED_GENOTYPES: Readonly<Record<PublishedGenotypeName, Genotype>> = deepFreeze({
  DARTS_V1: {
    normal: [
      ['sep_conv_3x3', 1],
      ['sep_conv_3x3', 0],
      ['skip_connect', 0],
      ['sep_conv_3x3', 1],
      ['skip_connect', 0],
      ['sep_conv_3x3', 1],
      ['sep_conv_3x3', 0],
      ['skip_connect', 2],
    ],
    normalConcat: [2, 3, 4, 5],
    reduce: [
      ['max_pool_3x3', 0],
      ['max_pool_3x3', 1],
      ['skip_connect', 2],
      ['max_pool_3x3', 0],
      ['max_pool_3x3', 0],
      ['skip_connect', 2],
      ['skip_connect', 2],
      ['avg_pool_3x3', 0],
    ],
    reduceConcat: [2, 3, 4, 5],
  },
  DARTS_V2: {
    normal: [
      ['sep_conv_3x3', 0],
      ['sep_conv_3x3', 1],
      ['sep_conv_3x3', 0],
      ['sep_conv_3x3', 1],
      ['sep_conv_3x3', 1],
      ['skip_connect', 0],
      ['skip_connect', 0],
      ['dil_conv_3x3', 2],
    ],
    normalConcat: [2, 3, 4, 5],
    reduce: [
      ['max_pool_3x3', 0],
      ['max_pool_3x3', 1],
      ['skip_connect', 2],
      ['max_pool_3x3', 1],
      ['max_pool_3x3', 0],
      ['skip_connect', 2],
      ['skip_connect', 2],
      ['max_pool_3x3', 1],
    ],
    reduceConcat: [2, 3, 4, 5],
  },
  RelativeNAS: {
    normal: [
      ['sep_conv_3x3', 0],
      ['dil_conv_5x5', 1],
      ['sep_conv_3x3', 1],
      ['sep_conv_3x3', 1],
      ['sep_conv_3x3', 1],
      ['sep_conv_5x5', 1],
      ['skip_connect', 0],
      ['sep_conv_3x3', 0],
    ],
    normalConcat: [2, 3, 4, 5],
    reduce: [
      ['avg_pool_3x3', 1],
      ['max_pool_3x3', 1],
      ['dil_conv_5x5', 1],
      ['max_pool_3x3', 1],
      ['avg_pool_3x3', 3],
      ['skip_connect', 1],
      ['dil_conv_5x5', 3],
      ['sep_conv_3x3', 1],
    ],
    reduceConcat: [2, 3, 4, 5],
  },
});

export function isPublishedGenotypeName(name: unknown): name is PublishedGenotypeName {
  return typeof name === 'string' && (PUBLISHED_GENOTYPE_NAMES as readonly string[]).includes(name);
}

/** A published genotype by its name (exact, e.g. `DARTS_V2`), as a fresh copy the caller may change. */
export function getPublishedGenotype(name: string): Genotype {
  if (!isPublishedGenotypeName(name)) {
    throw new GenotypeError(
      `unknown genotype name ${JSON.stringify(name)}; known: ${PUBLISHED_GENOTYPE_NAMES.join(', ')}`,
    );
  }
  return cloneGenotype(PUBLISHED_GENOTYPES[name]);
}

/**
 * A genotype as a spec file gives it (the `genotype` field of `fixtures/parity/*.spec.json`): a
 * published name or a genotype object in the JSON form.
 */
export function resolveGenotype(value: unknown, source = 'genotype'): Genotype {
  if (typeof value === 'string') return getPublishedGenotype(value);
  return genotypeFromJson(value, source);
}

// A genotype is a few hundred bytes; anything far larger is a wrong path, not a genotype.
const MAX_GENOTYPE_FILE_BYTES = 1 << 20;

/**
 * The `--genotype NAME|FILE.json` argument of the CLI: a published name, else a path to a JSON
 * file holding a genotype object or a published name.
 */
export function parseGenotypeArg(nameOrPath: string): Genotype {
  if (isPublishedGenotypeName(nameOrPath)) return getPublishedGenotype(nameOrPath);
  if (!existsSync(nameOrPath)) {
    throw new GenotypeError(
      `--genotype ${JSON.stringify(nameOrPath)} is neither a published genotype ` +
        `(${PUBLISHED_GENOTYPE_NAMES.join(', ')}) nor an existing JSON file`,
    );
  }
  let text: string;
  try {
    const { size } = statSync(nameOrPath);
    if (size > MAX_GENOTYPE_FILE_BYTES) {
      throw new Error(`${size} bytes is over the ${MAX_GENOTYPE_FILE_BYTES}-byte limit for a genotype file`);
    }
    text = readFileSync(nameOrPath, 'utf8');
  } catch (err) {
    throw new GenotypeError(`${nameOrPath}: cannot read: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GenotypeError(`${nameOrPath}: not valid JSON: ${(err as Error).message}`);
  }
  return resolveGenotype(value, nameOrPath);
}
