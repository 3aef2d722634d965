// Checkpoints of a search, written after every generation: the population, the velocities, the
// generator's state, the weight set and the history. Two files in `<out>/checkpoint/`: the weight
// set (`weights-<generation>.safetensors`) and `checkpoint.json`, which names the weight file it
// belongs to. Each is written atomically, the weights first, so a crash at any point leaves a
// `checkpoint.json` whose weight file exists; older weight files are removed afterwards.
import { mkdir, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { readSafetensors, writeSafetensors } from '@rnas/engine';
import { writeFileAtomic } from '@rnas/fs';
import { Rng, type RngState } from '@rnas/data';
import { encodingBounds } from '../encoding';
import type { SearchHistory } from './history';
import { checkHistory, firstIssue, readJsonFile, runningHistorySchema } from './history-file';
import type { SearchConfig } from './search-config';
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
const stateSchema = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  generationsDone: z.number().int().min(0),
  population: z.array(z.array(finite)),
  velocities: z.array(z.array(finite)),
  rng: z.unknown(),
  weights: z.string().regex(WEIGHTS_FILE),
  history: runningHistorySchema,
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

/** checkpoint.json of `outDir`, its shape and its history checked; null when there is none. */
async function readState(
  outDir: string,
): Promise<{ file: string; state: z.output<typeof stateSchema>; history: SearchHistory } | null> {
  const file = path.join(checkpointDir(outDir), STATE_FILE);
  const read = await readJsonFile(file, MAX_STATE_BYTES, 'checkpoint');
  if (read === null) return null;
  const parsed = stateSchema.safeParse(read.json);
  if (!parsed.success) fail(file, firstIssue(parsed.error));
  const state = parsed.data;
  let history: SearchHistory;
  try {
    history = checkHistory(state.history, 'history');
  } catch (err) {
    fail(file, (err as Error).message);
  }
  return { file, state, history };
}

function checkGenerationsDone(
  file: string,
  state: { generationsDone: number },
  history: SearchHistory,
): void {
  if (history.generations.length !== state.generationsDone) {
    fail(file, `history has ${history.generations.length} generations, expected ${state.generationsDone}`);
  }
}

/**
 * The history of the last checkpoint in `outDir` (the generations it holds, losses of diverged
 * candidates as NaN), or null when there is none; throws, naming the file and the field, when the
 * checkpoint is malformed. Does not read the weight set.
 */
export async function readCheckpointHistory(outDir: string): Promise<SearchHistory | null> {
  const read = await readState(outDir);
  if (read === null) return null;
  checkGenerationsDone(read.file, read.state, read.history);
  return read.history;
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
  const read = await readState(outDir);
  if (read === null) return null;
  const { file, state: s, history } = read;
  const stored = history.config;
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
  checkGenerationsDone(file, s, history);
  let rng: Rng;
  try {
    rng = Rng.fromState(s.rng as RngState);
  } catch (err) {
    fail(file, (err as Error).message);
  }
  const weightSet = WeightSet.fromTensors(
    network,
    await readSafetensors(path.join(checkpointDir(outDir), s.weights)),
    s.weights,
  );
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
