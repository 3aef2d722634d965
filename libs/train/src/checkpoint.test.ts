import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { encodeSafetensors, type HostTensor } from '@rnas/engine';
import {
  CHECKPOINT_FORMAT,
  checkpointPath,
  firstDifference,
  readTrainingCheckpoint,
  writeTrainingCheckpoint,
  type TrainingCheckpoint,
} from './checkpoint';
import type { EpochReport } from './epoch-report';
import { TrainError } from './errors';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-ckpt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const report: EpochReport = {
  epoch: 1,
  epochs: 2,
  learningRate: 0.025,
  dropPath: 0,
  trainLoss: 1.5,
  trainAccuracy: 0.25,
  trainImages: 24,
  evalLoss: null,
  evalAccuracy: null,
  evalImages: 0,
  imagesPerSecond: 100,
  durationMs: 240,
  etaMs: 240,
};

const f32 = (shape: number[], values: number[]): HostTensor => ({
  dtype: 'F32',
  shape,
  data: Float32Array.from(values),
});

const checkpoint: TrainingCheckpoint = {
  fingerprint: { spec: { channels: 4 }, recipe: { epochs: 2 } },
  epochsDone: 1,
  rng: { algorithm: 'xoshiro128**', state: [1, 2, 3, 4294967295] },
  history: [report],
  params: { 'stem.0.weight': f32([2, 1, 1, 1], [0.5, -0.25]), 'stem.1.running_var': f32([2], [1, 2]) },
  momentum: { 'stem.0.weight': f32([2, 1, 1, 1], [0.125, 1e-7]) },
};

async function rejection(p: Promise<unknown>): Promise<TrainError> {
  try {
    await p;
  } catch (err) {
    return err as TrainError;
  }
  throw new Error('expected a rejection');
}

describe('training checkpoints', () => {
  it('round-trips every part exactly', async () => {
    await writeTrainingCheckpoint(path.join(dir, 'nested', 'ckpt'), checkpoint);
    expect(await readTrainingCheckpoint(path.join(dir, 'nested', 'ckpt'))).toEqual(checkpoint);
  });

  it('is null where there is none yet', async () => {
    expect(await readTrainingCheckpoint(dir)).toBeNull();
    expect(await readTrainingCheckpoint(path.join(dir, 'absent'))).toBeNull();
  });

  it('replaces the previous checkpoint atomically, leaving no temporary file', async () => {
    await writeTrainingCheckpoint(dir, checkpoint);
    await writeTrainingCheckpoint(dir, {
      ...checkpoint,
      epochsDone: 2,
      history: [report, { ...report, epoch: 2 }],
    });
    expect((await readTrainingCheckpoint(dir))?.epochsDone).toBe(2);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual(['checkpoint.safetensors']);
  });

  const state = (over: Record<string, unknown>): string =>
    JSON.stringify({ fingerprint: {}, epochsDone: 0, rng: checkpoint.rng, history: [], ...over });
  it.each([
    ['empty', Buffer.alloc(0), 'empty'],
    ['garbage', Buffer.from('not safetensors'), 'header length'],
    [
      'another format',
      encodeSafetensors({}, { format: 'rnas-search-checkpoint/1', state: state({}) }),
      'format is',
    ],
    ['no state', encodeSafetensors({}, { format: CHECKPOINT_FORMAT }), 'state is not valid JSON'],
    [
      'bad rng',
      encodeSafetensors({}, { format: CHECKPOINT_FORMAT, state: state({ rng: { algorithm: 'mt' } }) }),
      'state.rng',
    ],
    [
      'history mismatch',
      encodeSafetensors({}, { format: CHECKPOINT_FORMAT, state: state({ epochsDone: 3 }) }),
      'history has 0 epochs, epochsDone is 3',
    ],
    [
      'NaN loss in history',
      encodeSafetensors(
        {},
        {
          format: CHECKPOINT_FORMAT,
          state: state({ epochsDone: 1, history: [{ ...report, trainLoss: null }] }),
        },
      ),
      'state.history.0.trainLoss',
    ],
    [
      'stray tensor',
      encodeSafetensors({ weird: f32([1], [0]) }, { format: CHECKPOINT_FORMAT, state: state({}) }),
      'unexpected tensor "weird"',
    ],
  ])('refuses a damaged checkpoint: %s', async (_name, bytes, message) => {
    await writeFile(checkpointPath(dir), bytes);
    const err = await rejection(readTrainingCheckpoint(dir));
    expect(err).toBeInstanceOf(TrainError);
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain(checkpointPath(dir));
    expect(err.message).toContain(message);
  });
});

describe('firstDifference', () => {
  it('names the first differing path, or null for equal values', () => {
    expect(firstDifference({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBeNull();
    expect(firstDifference({ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] })).toBe('a.1.b');
    expect(firstDifference({ a: 1 }, { a: 1, c: 0 })).toBe('c');
    expect(firstDifference([1], { 0: 1 })).toBe('(root)');
    expect(firstDifference(1, 2)).toBe('(root)');
  });
});
