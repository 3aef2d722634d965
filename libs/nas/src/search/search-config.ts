// Every knob of a search, with the paper's defaults (RELATIVENAS.md section 6 and the reference
// train_search.py), and the one validation every entry point (CLI, service, tests) goes through.
import { isOpName, PRIMITIVES, type OpName } from '../genotype';
import { STRATEGIES, type SearchStrategy } from './strategies';

export type { SearchStrategy };
/** The strategy names a configuration may give, in the registry's order. */
export const SEARCH_STRATEGIES = Object.keys(STRATEGIES) as readonly SearchStrategy[];

export interface SearchConfig {
  /** Slow-fast learning, or the random-search baseline with the same weight-shared evaluation. */
  readonly strategy: SearchStrategy;
  /** Population size m, even. */
  readonly population: number;
  readonly generations: number;
  /** Cells of the search network. */
  readonly layers: number;
  /** Initial channels of the search network. */
  readonly channels: number;
  /** Intermediate nodes per cell. */
  readonly steps: number;
  readonly batchSize: number;
  /** Images of the search-training split each candidate trains on per comparison; 0: all of it. */
  readonly trainImages: number;
  /** Images of the search-validation split the pair is compared on; 0: all of it. */
  readonly valImages: number;
  /** Learning rate of generation 0, annealed by cosine to `lrMin`. */
  readonly lrMax: number;
  readonly lrMin: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** Global gradient-norm clip; 0 disables clipping. */
  readonly gradClip: number;
  /** Drop-path probability reached at the end: `dropPath * generation / generations`. */
  readonly dropPath: number;
  /** Cutout square side in pixels; 0 disables cutout. */
  readonly cutout: number;
  /** Share of the training split used to train candidates; the rest compares them. */
  readonly trainPortion: number;
  /** Candidate ops in encoding order. */
  readonly primitives: readonly OpName[];
  /** Drives everything random: the same seed, data and backend give the same search. */
  readonly seed: number;
  /**
   * Pairs evaluated concurrently from one weight-set snapshot. 1 is the reference semantics (each
   * pair sees the updates of the pairs before it). k > 1 is an APPROXIMATION: k pairs run on 2k
   * workers at once, all from the same snapshot, and the weight-set updates of the other k - 1
   * pairs of a wave are lost to each pair (their trunk training, stem to classifier, is overwritten
   * by the last pair's teacher). Keep 1 unless throughput matters more than fidelity.
   */
  readonly pairsPerWave: number;
  /**
   * Validation images carry the training transform (random crop, flip, cutout), drawn anew for
   * each member: the reference does this, because its training and validation loaders share one
   * dataset object [true]. false: validate on the plain images (less noise in the comparison).
   */
  readonly valAugment: boolean;
  /**
   * Both members of a pair train on the same images in the same order with the same augmentation
   * (and validate on the same augmented images): common random numbers, which lowers the noise of
   * the comparison. The reference gives each member its own shuffle and augmentation [false].
   */
  readonly pairedData: boolean;
}

export const DEFAULT_SEARCH_CONFIG: SearchConfig = {
  strategy: 'relativenas',
  population: 20,
  generations: 50,
  layers: 8,
  channels: 16,
  steps: 4,
  batchSize: 256,
  trainImages: 0,
  valImages: 0,
  lrMax: 0.1,
  lrMin: 0.001,
  momentum: 0.9,
  weightDecay: 3e-4,
  gradClip: 5,
  dropPath: 0.3,
  cutout: 16,
  trainPortion: 0.5,
  primitives: PRIMITIVES,
  seed: 0,
  pairsPerWave: 1,
  valAugment: true,
  pairedData: false,
};

/** A search configuration field that is missing, of the wrong kind or out of range. */
export class SearchConfigError extends Error {
  override name = 'SearchConfigError';
  /** The field's path: `['lrMin']`, `['primitives', 2]`. */
  readonly path: readonly (string | number)[];

  constructor(
    readonly field: string,
    readonly got: unknown,
    /** What the field must be: `an integer in [1, 2147483647]`. */
    readonly expected: string,
  ) {
    super(`search config: ${field} must be ${expected}, got ${describe(got)}`);
    this.path = field
      .split(/[.[\]]+/)
      .filter((p) => p !== '')
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value === null || typeof value !== 'object') return String(value);
  return 'an object';
}

const INT_LIMIT = 2 ** 31 - 1;

function int(field: keyof SearchConfig, value: unknown, min: number, max = INT_LIMIT): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SearchConfigError(field, value, `an integer in [${min}, ${max}]`);
  }
  return value;
}

function bool(field: keyof SearchConfig, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new SearchConfigError(field, value, 'true or false');
  return value;
}

function real(field: keyof SearchConfig, value: unknown, min: number, max: number, maxOpen = false): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= min &&
    (maxOpen ? value < max : value <= max);
  if (!ok) throw new SearchConfigError(field, value, `a number in [${min}, ${max}${maxOpen ? ')' : ']'}`);
  return value as number;
}

/**
 * The full configuration: `overrides` on top of the defaults, every field checked. Unknown fields
 * are refused so that a misspelt knob cannot silently keep its default.
 */
export function resolveSearchConfig(
  overrides: Partial<Record<keyof SearchConfig, unknown>> = {},
): SearchConfig {
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new SearchConfigError('(config)', overrides, 'an object');
  }
  for (const key of Object.keys(overrides)) {
    if (!Object.hasOwn(DEFAULT_SEARCH_CONFIG, key)) {
      throw new SearchConfigError(
        key as keyof SearchConfig,
        (overrides as Record<string, unknown>)[key],
        'a known field (unknown field)',
      );
    }
  }
  const v = {
    ...DEFAULT_SEARCH_CONFIG,
    ...Object.fromEntries(Object.entries(overrides).filter(([, x]) => x !== undefined)),
  };
  if (!(SEARCH_STRATEGIES as readonly unknown[]).includes(v.strategy)) {
    throw new SearchConfigError('strategy', v.strategy, `one of ${SEARCH_STRATEGIES.join(', ')}`);
  }
  const population = int('population', v.population, 2, 100_000);
  if (population % 2 !== 0) throw new SearchConfigError('population', population, 'even');
  const lrMax = real('lrMax', v.lrMax, 0, 100);
  const lrMin = real('lrMin', v.lrMin, 0, 100);
  if (lrMin > lrMax) throw new SearchConfigError('lrMin', lrMin, `at most lrMax (${lrMax})`);
  const primitives: unknown = v.primitives;
  if (!Array.isArray(primitives) || primitives.length === 0 || primitives.length > 64) {
    throw new SearchConfigError('primitives', primitives, 'a non-empty list of op names');
  }
  primitives.forEach((op: unknown, i) => {
    if (!isOpName(op))
      throw new SearchConfigError(`primitives[${i}]` as keyof SearchConfig, op, 'a known op name');
    if (primitives.indexOf(op) !== i)
      throw new SearchConfigError(`primitives[${i}]` as keyof SearchConfig, op, 'listed once');
  });
  const seed = v.seed;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new SearchConfigError('seed', seed, 'a non-negative safe integer');
  }
  return {
    strategy: v.strategy as SearchStrategy,
    population,
    generations: int('generations', v.generations, 1, 1_000_000),
    layers: int('layers', v.layers, 1, 1000),
    channels: int('channels', v.channels, 1, 4096),
    steps: int('steps', v.steps, 1, 64),
    batchSize: int('batchSize', v.batchSize, 1, 1_000_000),
    trainImages: int('trainImages', v.trainImages, 0),
    valImages: int('valImages', v.valImages, 0),
    lrMax,
    lrMin,
    momentum: real('momentum', v.momentum, 0, 1, true),
    weightDecay: real('weightDecay', v.weightDecay, 0, 1),
    gradClip: real('gradClip', v.gradClip, 0, 1e9),
    dropPath: real('dropPath', v.dropPath, 0, 1, true),
    cutout: int('cutout', v.cutout, 0, 100_000),
    trainPortion: real('trainPortion', v.trainPortion, Number.MIN_VALUE, 1, true),
    primitives: [...(primitives as OpName[])],
    seed,
    pairsPerWave: int('pairsPerWave', v.pairsPerWave, 1, population / 2),
    valAugment: bool('valAugment', v.valAugment),
    pairedData: bool('pairedData', v.pairedData),
  };
}
