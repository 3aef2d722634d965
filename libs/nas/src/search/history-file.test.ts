import { mkdtemp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng } from '@rnas/data';
import { initBackend } from '@rnas/engine';
import { readCheckpointHistory, writeCheckpoint, type SearchState } from './checkpoint';
import { HISTORY_FORMAT, type GenerationRecord, type SearchHistory } from './history';
import { MAX_HISTORY_BYTES, parseSearchHistory, readSearchHistory } from './history-file';
import { resolveSearchConfig } from './search-config';
import { STUDENT, TEACHER, TINY_NETWORK } from './test-fixtures';
import { WeightSet } from './weight-set';

const config = resolveSearchConfig({
  population: 2,
  generations: 2,
  layers: 3,
  channels: 4,
  steps: 2,
  primitives: TINY_NETWORK.primitives,
});

const timing = { seconds: 1.5, imagesPerSecond: 20 };

/** Generation `g` in which member 1 diverged: its losses are NaN. */
function generation(g: number): GenerationRecord {
  const best = { generation: g, index: 0, genotype: TEACHER, valLoss: 0.75, valAccuracy: 0.5 };
  return {
    generation: g,
    learningRate: 0.1,
    dropPath: 0,
    diversity: 0.25,
    candidates: [
      {
        index: 0,
        encoding: [0.5],
        genotype: TEACHER,
        trainLoss: 1,
        trainAccuracy: 0.5,
        valLoss: 0.75,
        valAccuracy: 0.5,
      },
      {
        index: 1,
        encoding: [1.5],
        genotype: STUDENT,
        trainLoss: Number.NaN,
        trainAccuracy: 0,
        valLoss: Number.NaN,
        valAccuracy: 0,
      },
    ],
    pairs: [{ members: [0, 1], teacher: 0, student: 1, weightSetUpdated: true, timing }],
    best,
    bestSoFar: best,
    trainImages: 16,
    valImages: 12,
    timing,
  };
}

function history(generations = 2): SearchHistory {
  return {
    format: HISTORY_FORMAT,
    config,
    data: { source: 'synthetic:tiny', trainSize: 24, valSize: 24, classes: 3, imageShape: [8, 8, 1] },
    generations: Array.from({ length: generations }, (_, g) => generation(g)),
  };
}

function finished(): SearchHistory {
  const best = { generation: 2, index: 1, genotype: STUDENT, valLoss: Number.NaN, valAccuracy: 0 };
  return {
    ...history(),
    final: {
      candidates: [{ ...best, encoding: [1.5] }],
      best,
      valImages: 12,
      valAugmented: true,
      timing,
    },
  };
}

/** The history as the search writes it: JSON, NaN as null. */
function asJson(h: SearchHistory): Record<string, unknown> {
  return JSON.parse(JSON.stringify(h)) as Record<string, unknown>;
}

/** Sets `value` at a dotted path (as an own property, so that `__proto__` is data). */
function set(json: Record<string, unknown>, field: string, value: unknown): void {
  const keys = field.split('.');
  const last = keys.pop() as string;
  const parent = keys.reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, json);
  Object.defineProperty(parent, last, { value, enumerable: true, writable: true, configurable: true });
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-history-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readSearchHistory', () => {
  it('reads history.json back, the nulls of diverged losses as NaN', async () => {
    const file = path.join(dir, 'history.json');
    await writeFile(file, JSON.stringify(finished(), null, 1));
    const back = await readSearchHistory(file);
    expect(back).toEqual(finished());
    expect(back?.generations[1].candidates[1].valLoss).toBeNaN();
    expect(back?.final?.best.valLoss).toBeNaN();
    expect(parseSearchHistory(asJson(history()), 'h.json')).toEqual(history());
  });

  it('is null for a missing file', async () => {
    await expect(readSearchHistory(path.join(dir, 'absent.json'))).resolves.toBeNull();
  });

  it.each<[string, string, RegExp]>([
    ['an empty file', '', /search history .*bad\.json: not JSON/],
    ['text that is not JSON', '{"format": ', /not JSON/],
    ['a JSON null', 'null', /\(root\): .*received null/],
    ['an array', '[]', /\(root\): /],
  ])('refuses %s, naming the file', async (_, text, message) => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, text);
    await expect(readSearchHistory(file)).rejects.toThrow(message);
  });

  it('refuses a file larger than a history may be, without reading it', async () => {
    const file = path.join(dir, 'huge.json');
    await writeFile(file, '');
    await truncate(file, MAX_HISTORY_BYTES + 1); // sparse: no disk used
    await expect(readSearchHistory(file)).rejects.toThrow(
      `search history ${file}: ${MAX_HISTORY_BYTES + 1} bytes is more than a search history may have`,
    );
  });

  it.each<[string, string, unknown, RegExp]>([
    ['another format', 'format', 'rnas-search-history/1', /format: /],
    [
      'a null accuracy',
      'generations.0.candidates.0.valAccuracy',
      null,
      /generations\.0\.candidates\.0\.valAccuracy: .*null/,
    ],
    ['a null learning rate', 'generations.1.learningRate', null, /generations\.1\.learningRate: .*null/],
    ['a null timing', 'generations.0.timing.seconds', null, /generations\.0\.timing\.seconds: /],
    ['a string loss', 'generations.0.best.valLoss', '0.5', /generations\.0\.best\.valLoss: /],
    ['a null genotype', 'generations.0.best.genotype', null, /generations\.0\.best\.genotype: /],
    ['an unknown field', 'generations.0.extra', 1, /generations\.0: .*extra/],
    ['a hostile key', '__proto__', { polluted: true }, /__proto__/],
    ['misnumbered generations', 'generations.1.generation', 5, /generations\[1\] is generation 5/],
    ['an unknown op', 'generations.0.best.genotype.normal.0.0', 'rm_rf', /generations\[0\]\.best\.genotype/],
    ['an unknown config field', 'config.evil', 1, /search config: evil/],
    ['a config out of range', 'config.population', 3, /search config: population must be even/],
    ['a final choice without a best', 'final.best', undefined, /final\.best: /],
  ])('refuses %s, naming the field', (_, field, value, message) => {
    const raw = asJson(finished());
    set(raw, field, value);
    expect(() => parseSearchHistory(raw, 'runs/h.json')).toThrow(/^search history runs\/h\.json: /);
    expect(() => parseSearchHistory(raw, 'runs/h.json')).toThrow(message);
  });
});

describe('readCheckpointHistory', () => {
  let weightSet: WeightSet;
  const outDir = (): string => path.join(dir, 'search');
  const stateFile = (): string => path.join(outDir(), 'checkpoint', 'checkpoint.json');
  const state = (): SearchState => ({
    generationsDone: 2,
    population: [[0], [0]],
    velocities: [[0], [0]],
    rng: Rng.fromSeed(1).getState(),
    history: history(),
  });

  beforeAll(async () => {
    await initBackend();
    weightSet = WeightSet.initialise(TINY_NETWORK, 1);
  });

  beforeEach(async () => {
    await rm(outDir(), { recursive: true, force: true });
    await mkdir(outDir());
  });

  it('is null without a checkpoint', async () => {
    await expect(readCheckpointHistory(outDir())).resolves.toBeNull();
  });

  it("reads the checkpoint's history, the nulls of diverged losses as NaN", async () => {
    await writeCheckpoint(outDir(), state(), weightSet);
    const back = await readCheckpointHistory(outDir());
    expect(back).toEqual(history());
    expect(back?.generations[0].candidates[1].trainLoss).toBeNaN();
  });

  it.each<[string, string, RegExp]>([
    ['an empty file', '', /not JSON/],
    ['a null history', '{"history": null}', /: /],
  ])('refuses %s, naming the file', async (_, text, message) => {
    await mkdir(path.dirname(stateFile()), { recursive: true });
    await writeFile(stateFile(), text);
    await expect(readCheckpointHistory(outDir())).rejects.toThrow(`checkpoint ${stateFile()}: `);
    await expect(readCheckpointHistory(outDir())).rejects.toThrow(message);
  });

  it('refuses a null where a number belongs and a history of other length, naming the field', async () => {
    await writeCheckpoint(outDir(), state(), weightSet);
    const json = JSON.parse(await readFile(stateFile(), 'utf8')) as Record<string, unknown>;
    set(json, 'history.generations.1.diversity', null);
    await writeFile(stateFile(), JSON.stringify(json));
    await expect(readCheckpointHistory(outDir())).rejects.toThrow(
      /checkpoint .*checkpoint\.json: history\.generations\.1\.diversity: .*null/,
    );
    set(json, 'history.generations.1.diversity', 0.5);
    set(json, 'generationsDone', 1);
    await writeFile(stateFile(), JSON.stringify(json));
    await expect(readCheckpointHistory(outDir())).rejects.toThrow(/history has 2 generations, expected 1/);
  });
});
