// StartSearch input: every field checked at the door, so that a search that was accepted can run.
// zod checks each field's kind and range (the service's limits keep out what no machine finishes);
// the search library's resolveSearchConfig then checks what spans fields (even population,
// lr_min <= lr_max, known and distinct primitives) and fills the defaults. Errors are
// INVALID_ARGUMENT and name the protobuf field and the value. A valid search larger than the
// service's budget (--max-search-budget) is RESOURCE_EXHAUSTED, naming the budget and its factors.
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { InvalidArgumentError, invalidField, protoFieldPath, ResourceExhaustedError } from '@rnas/grpc';
import { checkDatasetUri } from '@rnas/data';
import { resolveSearchConfig, SearchConfigError, type SearchConfig } from '@rnas/nas';
import { SearchStrategy, type SearchConfig as SearchConfigProto, type StartSearchRequest } from '@rnas/proto';

/** What a stored search runs with: the full library configuration and the service's choices. */
export interface ResolvedSearch {
  readonly config: SearchConfig;
  readonly datasetUri: string;
  /** Evaluator threads, after the service's cap. */
  readonly workers: number;
}

export interface SearchLimits {
  /** Most evaluator threads one search may use. */
  readonly maxWorkers: number;
  readonly dataRoots: readonly string[];
  /** The largest searchBudget accepted (--max-search-budget); 0: no limit. */
  readonly maxBudget: number;
}

/**
 * What a whole split (train_images or val_images 0) counts as in a search's budget: its size is
 * not known before the search opens the dataset, so it counts as the most images the field can
 * ask for explicitly; a search over whole splits must be allowed a budget that large.
 */
export const WHOLE_SPLIT_IMAGES = 10_000_000;

/**
 * The default --max-search-budget: 50 million candidate images, a few hours on 2 cores with the
 * wasm backend. It admits the README's and the demo's searches (8 x 3 x 512 = 12,288) a
 * thousand times over, and refuses the largest the request bounds allow (1000 x 10000 x 2e7).
 */
export const DEFAULT_MAX_SEARCH_BUDGET = 50_000_000;

/** The work a search asks for, in candidate images, and its factors. */
export interface SearchBudget {
  readonly population: number;
  readonly generations: number;
  /** train_images + val_images, a whole split counting as WHOLE_SPLIT_IMAGES. */
  readonly imagesPerComparison: number;
  /** population x generations x imagesPerComparison. */
  readonly budget: number;
}

/** A search's budget: every member of every generation trains and validates on its images. */
export function searchBudget(config: SearchConfig): SearchBudget {
  const images = (n: number): number => (n === 0 ? WHOLE_SPLIT_IMAGES : n);
  const imagesPerComparison = images(config.trainImages) + images(config.valImages);
  return {
    population: config.population,
    generations: config.generations,
    imagesPerComparison,
    budget: config.population * config.generations * imagesPerComparison,
  };
}

/** RESOURCE_EXHAUSTED when the search's budget is above `maxBudget` (0: no limit). */
export function checkSearchBudget(config: SearchConfig, maxBudget: number): void {
  const b = searchBudget(config);
  if (maxBudget === 0 || b.budget <= maxBudget) return;
  const split = (field: string, n: number): string =>
    n === 0
      ? `config.${field} 0 (the whole split, counted as ${WHOLE_SPLIT_IMAGES})`
      : `config.${field} ${n}`;
  throw new ResourceExhaustedError(
    `search budget ${b.budget} = config.population ${b.population} x config.generations ${b.generations} ` +
      `x images per comparison ${b.imagesPerComparison} (${split('train_images', config.trainImages)} ` +
      `+ ${split('val_images', config.valImages)}) is above --max-search-budget ` +
      `(RNAS_MAX_SEARCH_BUDGET) ${maxBudget}: ask for fewer members, generations or images`,
  );
}

/** Intermediate nodes per cell: the search space of RELATIVENAS.md section 2 (not a request field). */
const STEPS = 4;

/** A request field's protobuf name, from its path in the library's SearchConfig. */
function protoField(path: readonly PropertyKey[]): string {
  return protoFieldPath(['config', ...path.map((p) => (typeof p === 'number' ? p : String(p)))]);
}

const int = (min: number, max: number): z.ZodOptional<z.ZodNumber> =>
  z
    .number()
    .int({ error: `expected an integer in [${min}, ${max}]` })
    .min(min, { error: `expected an integer in [${min}, ${max}]` })
    .max(max, { error: `expected an integer in [${min}, ${max}]` })
    .optional();

const real = (min: number, max: number, openMin = false, openMax = false): z.ZodOptional<z.ZodNumber> => {
  const error = `expected a number in ${openMin ? '(' : '['}${min}, ${max}${openMax ? ')' : ']'}`;
  return z
    .number({ error })
    .refine((v) => (openMin ? v > min : v >= min) && (openMax ? v < max : v <= max), { error })
    .optional();
};

/**
 * The service's bounds. The library accepts more (a population of 100000); a service that must
 * keep answering refuses what no machine here finishes.
 */
const ConfigSchema = z.object({
  strategy: z.enum(SearchStrategy).refine((s) => s !== SearchStrategy.UNRECOGNIZED, {
    error: 'expected SEARCH_STRATEGY_RELATIVENAS or SEARCH_STRATEGY_RANDOM',
  }),
  population: int(2, 1000),
  generations: int(1, 10_000),
  layers: int(3, 100),
  channels: int(1, 512),
  batchSize: int(1, 4096),
  trainImages: int(0, 10_000_000),
  valImages: int(0, 10_000_000),
  lrMax: real(0, 10),
  lrMin: real(0, 10),
  momentum: real(0, 1, false, true),
  weightDecay: real(0, 1),
  gradClip: real(0, 1e6),
  dropPath: real(0, 1, false, true),
  cutout: int(0, 1024),
  trainPortion: real(0, 1, true, true),
  primitives: z
    .array(z.string().max(64, { error: 'expected an op name' }))
    .max(64, { error: 'expected at most 64 op names' }),
  workers: int(0, 256),
  valAugment: z.boolean({ error: 'expected true or false' }).optional(),
  pairedData: z.boolean({ error: 'expected true or false' }).optional(),
  pairsPerWave: int(1, 500),
});

function first(error: z.ZodError): { path: PropertyKey[]; message: string } {
  const issue = error.issues[0];
  return { path: issue.path, message: issue.message };
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

const STRATEGIES: Record<number, SearchConfig['strategy']> = {
  [SearchStrategy.SEARCH_STRATEGY_UNSPECIFIED]: 'relativenas',
  [SearchStrategy.SEARCH_STRATEGY_RELATIVENAS]: 'relativenas',
  [SearchStrategy.SEARCH_STRATEGY_RANDOM]: 'random',
};

/** The validated search of a StartSearch request; INVALID_ARGUMENT names the field and value. */
export async function resolveStartSearch(
  request: StartSearchRequest,
  limits: SearchLimits,
): Promise<ResolvedSearch> {
  const proto: SearchConfigProto = request.config ?? {
    strategy: SearchStrategy.SEARCH_STRATEGY_UNSPECIFIED,
    primitives: [],
  };
  const parsed = ConfigSchema.safeParse(proto);
  if (!parsed.success) {
    const { path, message } = first(parsed.error);
    throw new InvalidArgumentError(protoField(path), valueAt(proto, path), message);
  }
  const c = parsed.data;
  if (
    request.seed !== undefined &&
    !(Number.isInteger(request.seed) && request.seed >= 0 && request.seed < 2 ** 32)
  ) {
    throw new InvalidArgumentError('seed', request.seed, 'expected an integer in [0, 4294967295]');
  }
  let config: SearchConfig;
  try {
    config = resolveSearchConfig({
      strategy: STRATEGIES[c.strategy],
      population: c.population,
      generations: c.generations,
      layers: c.layers,
      channels: c.channels,
      steps: STEPS,
      batchSize: c.batchSize,
      trainImages: c.trainImages,
      valImages: c.valImages,
      lrMax: c.lrMax,
      lrMin: c.lrMin,
      momentum: c.momentum,
      weightDecay: c.weightDecay,
      gradClip: c.gradClip,
      dropPath: c.dropPath,
      cutout: c.cutout,
      trainPortion: c.trainPortion,
      primitives: c.primitives.length === 0 ? undefined : c.primitives,
      seed: request.seed ?? randomInt(0, 2 ** 32 - 1),
      pairsPerWave: c.pairsPerWave,
      valAugment: c.valAugment,
      pairedData: c.pairedData,
    });
  } catch (err) {
    if (!(err instanceof SearchConfigError)) throw err;
    // The seed is a request field of its own, not one of the config's.
    throw invalidField(err.path[0] === 'seed' ? err : { ...err, path: ['config', ...err.path] });
  }
  const requested = c.workers ?? 1;
  const workers = Math.min(requested === 0 ? limits.maxWorkers : requested, limits.maxWorkers);
  const datasetUri = await checkDatasetUri(request.datasetUri, limits.dataRoots);
  checkSearchBudget(config, limits.maxBudget);
  return { config, datasetUri, workers };
}

/** The protobuf configuration of a stored search, every field set. */
export function searchConfigToProto(config: SearchConfig, workers: number): SearchConfigProto {
  return {
    strategy:
      config.strategy === 'random'
        ? SearchStrategy.SEARCH_STRATEGY_RANDOM
        : SearchStrategy.SEARCH_STRATEGY_RELATIVENAS,
    population: config.population,
    generations: config.generations,
    layers: config.layers,
    channels: config.channels,
    batchSize: config.batchSize,
    trainImages: config.trainImages,
    valImages: config.valImages,
    lrMax: config.lrMax,
    lrMin: config.lrMin,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
    gradClip: config.gradClip,
    dropPath: config.dropPath,
    cutout: config.cutout,
    trainPortion: config.trainPortion,
    primitives: [...config.primitives],
    workers,
    valAugment: config.valAugment,
    pairedData: config.pairedData,
    pairsPerWave: config.pairsPerWave,
  };
}
