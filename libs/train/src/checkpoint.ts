// A training's checkpoint, written after every epoch: one safetensors file holding every
// parameter and batch-norm buffer (reference names and layouts, `params/<name>`), the SGD
// momentum buffers (`momentum/<name>`) and, as metadata, the epochs done, the drop-path
// generator's state, the history and the fingerprint of the training it belongs to. One file
// written atomically (temp file, fsync, rename) is consistent at every instant.
import { lstat, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { decodeSafetensors, writeSafetensors, type HostTensor } from '@rnas/engine';
import type { RngState } from '@rnas/data';
import { EpochReportSchema, type EpochReport } from './epoch-report';
import { TrainError } from './errors';
import { ModelError, readBoundedFile } from '@rnas/model';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const CHECKPOINT_FORMAT = 'rnas-training-checkpoint/1';
const PARAMS_PREFIX = 'params/';
const MOMENTUM_PREFIX = 'momentum/';
/** Far above any network of the search space (the ImageNet network is ~5 M parameters). */
const MAX_CHECKPOINT_BYTES = 2 ** 31 - 1;

export interface TrainingCheckpoint {
  /** What training this is (spec, recipe, dataset); a resume refuses a checkpoint of another. */
  readonly fingerprint: unknown;
  readonly epochsDone: number;
  /** State of the drop-path generator after the last completed epoch. */
  readonly rng: RngState;
  readonly history: readonly EpochReport[];
  /** Parameters and buffers, reference names and layouts. */
  readonly params: Readonly<Record<string, HostTensor>>;
  /** Momentum buffers, reference names and layouts (absent before the first step). */
  readonly momentum: Readonly<Record<string, HostTensor>>;
}

const StateSchema = z.strictObject({
  fingerprint: z.unknown(),
  epochsDone: z.number().int().nonnegative(),
  rng: z.strictObject({
    algorithm: z.literal('xoshiro128**'),
    state: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  }),
  history: z.array(EpochReportSchema),
});

export function checkpointPath(dir: string): string {
  return path.join(dir, CHECKPOINT_FILE);
}

export async function writeTrainingCheckpoint(dir: string, checkpoint: TrainingCheckpoint): Promise<void> {
  const tensors: Record<string, HostTensor> = {};
  for (const [name, t] of Object.entries(checkpoint.params)) tensors[PARAMS_PREFIX + name] = t;
  for (const [name, t] of Object.entries(checkpoint.momentum)) tensors[MOMENTUM_PREFIX + name] = t;
  const state = {
    fingerprint: checkpoint.fingerprint,
    epochsDone: checkpoint.epochsDone,
    rng: checkpoint.rng,
    history: checkpoint.history,
  };
  await mkdir(dir, { recursive: true });
  await writeSafetensors(checkpointPath(dir), tensors, {
    format: CHECKPOINT_FORMAT,
    state: JSON.stringify(state),
  });
}

function corrupt(file: string, why: string): TrainError {
  return new TrainError('FAILED_PRECONDITION', `checkpoint ${file}: ${why}`);
}

/** The checkpoint in `dir`, or null when there is none yet; a damaged one is an error naming the file. */
export async function readTrainingCheckpoint(dir: string): Promise<TrainingCheckpoint | null> {
  const file = checkpointPath(dir);
  try {
    await lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw corrupt(file, `cannot read: ${(err as Error).message}`);
  }
  // The bounded reader is the model format's; a checkpoint's errors are training's.
  const bytes = await readBoundedFile(file, MAX_CHECKPOINT_BYTES).catch((err: unknown) => {
    throw err instanceof ModelError ? new TrainError(err.code, err.message) : err;
  });
  let decoded;
  try {
    decoded = decodeSafetensors(bytes, file);
  } catch (err) {
    throw corrupt(file, (err as Error).message);
  }
  if (decoded.metadata.format !== CHECKPOINT_FORMAT) {
    throw corrupt(
      file,
      `format is ${JSON.stringify(decoded.metadata.format)}, expected "${CHECKPOINT_FORMAT}"`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(decoded.metadata.state ?? '');
  } catch (err) {
    throw corrupt(file, `state is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = StateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corrupt(file, `state.${issue.path.map(String).join('.')}: ${issue.message}`);
  }
  const state = parsed.data;
  if (state.history.length !== state.epochsDone) {
    throw corrupt(file, `history has ${state.history.length} epochs, epochsDone is ${state.epochsDone}`);
  }
  const params: Record<string, HostTensor> = {};
  const momentum: Record<string, HostTensor> = {};
  for (const [name, t] of Object.entries(decoded.tensors)) {
    if (name.startsWith(PARAMS_PREFIX)) params[name.slice(PARAMS_PREFIX.length)] = t;
    else if (name.startsWith(MOMENTUM_PREFIX)) momentum[name.slice(MOMENTUM_PREFIX.length)] = t;
    else throw corrupt(file, `unexpected tensor ${JSON.stringify(name)}`);
  }
  return {
    fingerprint: state.fingerprint,
    epochsDone: state.epochsDone,
    rng: { algorithm: state.rng.algorithm, state: state.rng.state },
    history: state.history,
    params,
    momentum,
  };
}

/** The first place where two JSON values differ, as a path (`recipe.epochs`), or null if equal. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (Object.is(a, b)) return null;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return at || '(root)';
  if (Array.isArray(a) !== Array.isArray(b)) return at || '(root)';
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const d = firstDifference(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
      at === '' ? key : `${at}.${key}`,
    );
    if (d !== null) return d;
  }
  return null;
}
