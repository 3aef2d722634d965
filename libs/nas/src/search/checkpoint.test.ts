import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng } from '@rnas/data';
import { initBackend } from '@rnas/engine';
import { randomVector } from '../encoding';
import { readCheckpoint, writeCheckpoint, type SearchState } from './checkpoint';
import { HISTORY_FORMAT } from './history';
import { resolveSearchConfig } from './search-config';
import { TINY_NETWORK } from './test-fixtures';
import { WeightSet } from './weight-set';

const config = resolveSearchConfig({
  population: 4,
  generations: 3,
  layers: 3,
  channels: 4,
  steps: 2,
  primitives: TINY_NETWORK.primitives,
});

let dir: string;
let weightSet: WeightSet;

function state(): SearchState {
  const rng = Rng.fromSeed(1);
  const population = Array.from({ length: 4 }, () =>
    randomVector(2, () => rng.nextFloat(), config.primitives),
  );
  return {
    generationsDone: 0,
    population,
    velocities: population.map((p) => p.map(() => 0.25)),
    rng: rng.getState(),
    history: {
      format: HISTORY_FORMAT,
      config,
      data: { source: 'synthetic:tiny', trainSize: 24, valSize: 24, classes: 3, imageShape: [8, 8, 1] },
      generations: [],
    },
  };
}

const stateFile = (): string => path.join(dir, 'checkpoint', 'checkpoint.json');

async function edit(change: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await readFile(stateFile(), 'utf8'));
  change(json);
  await writeFile(stateFile(), JSON.stringify(json));
}

beforeAll(async () => {
  await initBackend();
  weightSet = WeightSet.initialise(TINY_NETWORK, 1);
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-ckpt-'));
  await writeCheckpoint(dir, state(), weightSet);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkpoints', () => {
  it('round-trip the state and the weight set', async () => {
    const back = await readCheckpoint(dir, config, TINY_NETWORK);
    expect(back?.state).toEqual(state());
    expect(back?.weightSet.get('stem.0.weight').data).toEqual(weightSet.get('stem.0.weight').data);
  });

  it('keep only the newest weight file', async () => {
    await writeCheckpoint(dir, { ...state(), generationsDone: 1 }, weightSet);
    expect((await readdir(path.join(dir, 'checkpoint'))).sort()).toEqual([
      'checkpoint.json',
      'weights-000001.safetensors',
    ]);
    expect(JSON.parse(await readFile(stateFile(), 'utf8')).weights).toBe('weights-000001.safetensors');
  });

  it('are absent from an empty directory', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'rnas-ckpt-empty-'));
    await expect(readCheckpoint(empty, config, TINY_NETWORK)).resolves.toBeNull();
    await rm(empty, { recursive: true });
  });

  it.each<[string, (json: Record<string, unknown>) => void, RegExp]>([
    ['another format', (j) => (j.format = 'x'), /format: /],
    ['a weight file outside the folder', (j) => (j.weights = '../../etc/passwd'), /weights: /],
    ['a missing weight file', (j) => (j.weights = 'weights-000007.safetensors'), /cannot read/],
    ['a member too few', (j) => (j.population as unknown[]).pop(), /population has 3 members, expected 4/],
    [
      'a short encoding',
      (j) => (j.velocities as number[][])[1].pop(),
      /velocities\[1\] has length 15, expected 16/,
    ],
    [
      'a position out of bounds',
      (j) => ((j.population as number[][])[2][1] = 99),
      /population\[2\]\[1\] = 99 is outside \[0, 4\]/,
    ],
    ['a non-number', (j) => ((j.population as unknown[][])[0][0] = 'x'), /population.0.0: /],
    [
      'an all-zero generator state',
      (j) => (j.rng = { algorithm: 'xoshiro128**', state: [0, 0, 0, 0] }),
      /rngState/,
    ],
    [
      'more generations done than planned',
      (j) => (j.generationsDone = 9),
      /generationsDone 9 is more than the 3 generations/,
    ],
    [
      'a history shorter than the generations done',
      (j) => (j.generationsDone = 1),
      /history has 0 generations, expected 1/,
    ],
    ['an unknown field', (j) => (j.extra = 1), /extra/],
  ])('refuse %s', async (_, change, message) => {
    await edit(change);
    await expect(readCheckpoint(dir, config, TINY_NETWORK)).rejects.toThrow(message);
  });

  it('refuse text that is not JSON and a configuration that differs', async () => {
    await expect(readCheckpoint(dir, { ...config, seed: 5 }, TINY_NETWORK)).rejects.toThrow(
      /was written with seed = 0, but this run has seed = 5/,
    );
    await writeFile(stateFile(), '{"format": ');
    await expect(readCheckpoint(dir, config, TINY_NETWORK)).rejects.toThrow(
      /checkpoint .*checkpoint.json: not JSON/,
    );
  });

  it('refuse a damaged weight file', async () => {
    const file = path.join(dir, 'checkpoint', 'weights-000000.safetensors');
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 10));
    await expect(readCheckpoint(dir, config, TINY_NETWORK)).rejects.toThrow(/weights-000000.safetensors/);
  });
});
