// Checkpoints of a search, written after every generation: the population, the velocities, the
// generator's state, the weight set and the history. Two files in `<out>/checkpoint/`: the weight
// set (`weights-<generation>.safetensors`) and `checkpoint.json`, which names the weight file it
// belongs to. Each is written atomically, the weights first, so a crash at any point leaves a
// `checkpoint.json` whose weight file exists; older weight files are removed afterwards.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { readSafetensors, writeSafetensors } from '@rnas/engine';
import { writeFileAtomic } from '@rnas/fs';
import { Rng, type RngState } from '@rnas/data';
import { encodingBounds } from '../encoding';
import { validateGenotype, type Genotype } from '../genotype';
import { HISTORY_FORMAT, type SearchHistory } from './history';
import { resolveSearchConfig, type SearchConfig } from './search-config';
import type { SearchNetworkConfig } from './search-network';
import { WeightSet } from './weight-set';

export const CHECKPOINT_FORMAT = 'rnas-search-checkpoint/1';
const STATE_FILE = 'checkpoint.json';
const WEIGHTS_FILE = /^weights-(\d{6})\.safetensors$/;
/** checkpoint.json is small (a history of a few MB at most); anything far larger is not ours. */
const MAX_STATE_BYTES = 512 * 1024 * 1024;

export interface SearchState {
  /** Generations completed. */
  generationsDone: number;
  population: number[][];
  velocities: number[][];
  rng: RngState;
  history: SearchHistory;
}

const finite = z.number().refine(Number.isFinite, 'expected a finite number');
// JSON has no NaN: a diverged candidate's loss is written as null and read back as NaN.
const loss = z
  .number()
  .nullable()
  .transform((v) => (v === null ? Number.NaN : v));
const edge = z.tuple([z.string(), z.number().int()]);
const genotype = z.strictObject({
  normal: z.array(edge),
  normalConcat: z.array(z.number().int()),
  reduce: z.array(edge),
  reduceConcat: z.array(z.number().int()),
});
const timing = z.strictObject({ seconds: z.number(), imagesPerSecond: z.number() });
const best = z.strictObject({
  generation: z.number().int(),
  index: z.number().int(),
  genotype,
  valLoss: loss,
  valAccuracy: finite,
});
const generationRecord = z.strictObject({
  generation: z.number().int(),
  learningRate: finite,
  dropPath: finite,
  diversity: finite,
  candidates: z.array(
    z.strictObject({
      index: z.number().int(),
      encoding: z.array(finite),
      genotype,
      trainLoss: loss,
      trainAccuracy: finite,
      valLoss: loss,
      valAccuracy: finite,
    }),
  ),
  pairs: z.array(
    z.strictObject({
      members: z.tuple([z.number().int(), z.number().int()]),
      teacher: z.number().int(),
      student: z.number().int(),
      weightSetUpdated: z.boolean(),
      timing,
    }),
  ),
  best,
  bestSoFar: best,
  trainImages: z.number().int(),
  valImages: z.number().int(),
  timing,
});
const stateSchema = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  generationsDone: z.number().int().min(0),
  population: z.array(z.array(finite)),
  velocities: z.array(z.array(finite)),
  rng: z.unknown(),
  weights: z.string().regex(WEIGHTS_FILE),
  history: z.strictObject({
    format: z.literal(HISTORY_FORMAT),
    config: z.record(z.string(), z.unknown()),
    data: z.strictObject({
      source: z.string(),
      trainSize: z.number().int(),
      valSize: z.number().int(),
      classes: z.number().int(),
      imageShape: z.array(z.number().int()),
    }),
    generations: z.array(generationRecord),
  }),
});

export function checkpointDir(outDir: string): string {
  return path.join(outDir, 'checkpoint');
}

/** Writes the checkpoint of `state` and the weight set. */
export async function writeCheckpoint(
  outDir: string,
  state: SearchState,
  weightSet: WeightSet,
): Promise<void> {
  const dir = checkpointDir(outDir);
  await mkdir(dir, { recursive: true });
  const weights = `weights-${String(state.generationsDone).padStart(6, '0')}.safetensors`;
  const { tensors, metadata } = weightSet.toTensors();
  await writeSafetensors(path.join(dir, weights), tensors, metadata);
  const json = JSON.stringify({ format: CHECKPOINT_FORMAT, ...state, weights });
  await writeFileAtomic(path.join(dir, STATE_FILE), json);
  for (const name of await readdir(dir)) {
    if (WEIGHTS_FILE.test(name) && name !== weights) await rm(path.join(dir, name), { force: true });
  }
}

function fail(file: string, message: string): never {
  throw new Error(`checkpoint ${file}: ${message}`);
}

/**
 * The last checkpoint in `outDir`, or null when there is none. `config` is the configuration the
 * caller wants to continue with: the checkpoint must have been written by the same one.
 */
export async function readCheckpoint(
  outDir: string,
  config: SearchConfig,
  network: SearchNetworkConfig,
): Promise<{ state: SearchState; weightSet: WeightSet } | null> {
  const dir = checkpointDir(outDir);
  const file = path.join(dir, STATE_FILE);
  let text: string;
  try {
    const buf = await readFile(file);
    if (buf.length > MAX_STATE_BYTES) fail(file, `${buf.length} bytes is more than a checkpoint may have`);
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(file, `not JSON (${(err as Error).message})`);
  }
  const parsed = stateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(file, `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const s = parsed.data;
  let stored: SearchConfig;
  try {
    stored = resolveSearchConfig(s.history.config);
  } catch (err) {
    fail(file, (err as Error).message);
  }
  for (const key of Object.keys(config) as (keyof SearchConfig)[]) {
    if (JSON.stringify(stored[key]) !== JSON.stringify(config[key])) {
      fail(
        file,
        `was written with ${key} = ${JSON.stringify(stored[key])}, but this run has ${key} = ${JSON.stringify(config[key])}`,
      );
    }
  }
  const m = config.population;
  const bounds = encodingBounds(config.steps, config.primitives);
  const dim = bounds.upper.length;
  for (const field of ['population', 'velocities'] as const) {
    const rows = s[field];
    if (rows.length !== m) fail(file, `${field} has ${rows.length} members, expected ${m}`);
    rows.forEach((row, i) => {
      if (row.length !== dim) fail(file, `${field}[${i}] has length ${row.length}, expected ${dim}`);
    });
  }
  s.population.forEach((row, i) =>
    row.forEach((v, k) => {
      if (v < bounds.lower[k] || v > bounds.upper[k]) {
        fail(file, `population[${i}][${k}] = ${v} is outside [${bounds.lower[k]}, ${bounds.upper[k]}]`);
      }
    }),
  );
  if (s.generationsDone > config.generations) {
    fail(file, `generationsDone ${s.generationsDone} is more than the ${config.generations} generations`);
  }
  if (s.history.generations.length !== s.generationsDone) {
    fail(file, `history has ${s.history.generations.length} generations, expected ${s.generationsDone}`);
  }
  s.history.generations.forEach((g, i) => {
    if (g.generation !== i) fail(file, `history.generations[${i}] is generation ${g.generation}`);
    try {
      validateGenotype(g.best.genotype as Genotype, `history.generations[${i}].best.genotype`);
      validateGenotype(g.bestSoFar.genotype as Genotype, `history.generations[${i}].bestSoFar.genotype`);
    } catch (err) {
      fail(file, (err as Error).message);
    }
  });
  let rng: Rng;
  try {
    rng = Rng.fromState(s.rng as RngState);
  } catch (err) {
    fail(file, (err as Error).message);
  }
  const weightSet = WeightSet.fromTensors(
    network,
    await readSafetensors(path.join(dir, s.weights)),
    s.weights,
  );
  const history: SearchHistory = { ...(s.history as unknown as SearchHistory), config: stored };
  return {
    state: {
      generationsDone: s.generationsDone,
      population: s.population,
      velocities: s.velocities,
      rng: rng.getState(),
      history,
    },
    weightSet,
  };
}
