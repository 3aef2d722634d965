import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { openDataset } from '@rnas/data';
import { initBackend, readSafetensors, tf } from '@rnas/engine';
import { encodingBounds } from '../encoding';
import { genotypeFromJson } from '../genotype';
import type { SearchData } from './candidate';
import { readCheckpointHistory } from './checkpoint';
import { InProcessEvaluator } from './evaluator';
import { searchFromDataset } from './from-dataset';
import { withoutTiming, type SearchHistory } from './history';
import { readSearchHistory } from './history-file';
import { evaluatorSetup, runSearch, searchSplits, type SearchEvent, type SearchResult } from './search';
import { SearchDivergedError } from './divergence';
import { resolveSearchConfig, type SearchConfig } from './search-config';
import { TINY_NETWORK, tinyData } from './test-fixtures';

/** A whole search in a few seconds: 4 members, 2 generations, 3 cells of 2 nodes, 4 channels, 8x8 images. */
const TINY: Partial<SearchConfig> = {
  population: 4,
  generations: 2,
  layers: 3,
  channels: 4,
  steps: 2,
  batchSize: 8,
  trainImages: 16,
  valImages: 12,
  cutout: 4,
  primitives: TINY_NETWORK.primitives,
  seed: 3,
};

let data: SearchData;
let scratch: string;

async function search(
  overrides: Partial<SearchConfig>,
  options: {
    outDir?: string;
    resume?: boolean;
    signal?: AbortSignal;
    onEvent?: (e: SearchEvent) => void;
  } = {},
): Promise<SearchResult> {
  const config = resolveSearchConfig({ ...TINY, ...overrides });
  const evaluator = new InProcessEvaluator(evaluatorSetup(config, data));
  try {
    return await runSearch({ config, data, dataSource: 'synthetic:tiny', evaluator, ...options });
  } finally {
    await evaluator.close();
  }
}

let baseline: SearchResult;
let baselineDir: string;

beforeAll(async () => {
  await initBackend();
  data = await tinyData();
  scratch = await mkdtemp(path.join(tmpdir(), 'rnas-search-'));
  baselineDir = path.join(scratch, 'baseline');
  baseline = await search({}, { outDir: baselineDir });
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('runSearch (RelativeNAS)', () => {
  it('records every generation: candidates, pairs, winners, diversity, best', () => {
    const { history } = baseline;
    expect(history.generations).toHaveLength(2);
    history.generations.forEach((g, i) => {
      expect(g.generation).toBe(i);
      expect(g.candidates.map((c) => c.index)).toEqual([0, 1, 2, 3]);
      expect(g.pairs).toHaveLength(2);
      expect(g.pairs.flatMap((p) => p.members).sort()).toEqual([0, 1, 2, 3]);
      for (const p of g.pairs) {
        expect(g.candidates[p.teacher].valLoss).toBeLessThanOrEqual(g.candidates[p.student].valLoss);
        expect(p.members).toContain(p.teacher);
        expect(p.members).toContain(p.student);
      }
      const lowest = Math.min(...g.candidates.map((c) => c.valLoss));
      expect(g.best.valLoss).toBe(lowest);
      expect(g.bestSoFar.valLoss).toBeLessThanOrEqual(lowest);
      expect(g.trainImages).toBe(16);
      expect(g.valImages).toBe(12);
      expect(g.diversity).toBeGreaterThan(0);
    });
    expect(history.generations[0].learningRate).toBeCloseTo(0.1, 12);
    expect(history.generations[1].learningRate).toBeCloseTo(0.0505, 12);
    expect(history.generations[0].dropPath).toBe(0);
    expect(history.generations[1].dropPath).toBeCloseTo(0.15, 12);
  });

  it('chooses the final genotype among the final population, re-evaluated under the final weight set', () => {
    const { history } = baseline;
    const final = history.final;
    if (final === undefined) throw new Error('no final record');
    // Every member of the population the last generation left, each genotype measured once.
    const distinct = new Set(baseline.population.map((p) => JSON.stringify(p)));
    expect(final.candidates.length).toBeLessThanOrEqual(4);
    expect(final.candidates.length).toBeGreaterThanOrEqual(1);
    for (const c of final.candidates) {
      expect(c.generation).toBe(2);
      expect(distinct.has(JSON.stringify(c.encoding))).toBe(true);
      expect(c.encoding).toEqual(baseline.population[c.index]);
    }
    expect(final.valImages).toBe(12);
    expect(final.valAugmented).toBe(true);
    const lowest = Math.min(...final.candidates.map((c) => c.valLoss));
    expect(final.best.valLoss).toBe(lowest);
    expect(baseline.best).toEqual(final.best);
    // Measured afresh: the loss of a member that was also in the last generation differs from
    // the one taken there (another snapshot of the weight set, and no training pass now).
    expect(
      final.candidates.some((c) => c.valLoss !== history.generations[1].candidates[c.index].valLoss),
    ).toBe(true);
  });

  it('moves students towards their teachers and leaves teachers where they were', () => {
    const [g0, g1] = baseline.history.generations;
    const bounds = encodingBounds(2, TINY_NETWORK.primitives);
    for (const p of g0.pairs) {
      expect(g1.candidates[p.teacher].encoding).toEqual(g0.candidates[p.teacher].encoding);
      const before = g0.candidates[p.student].encoding;
      const after = g1.candidates[p.student].encoding;
      const teacher = g0.candidates[p.teacher].encoding;
      expect(after).not.toEqual(before);
      after.forEach((v, k) => {
        expect(v).toBeGreaterThanOrEqual(bounds.lower[k]);
        expect(v).toBeLessThanOrEqual(bounds.upper[k]);
        // First move from zero velocity: P + r2 (T - P) with r2 in [0, 1) lies between P and T.
        expect(v).toBeGreaterThanOrEqual(Math.min(before[k], teacher[k]) - 1e-12);
        expect(v).toBeLessThanOrEqual(Math.max(before[k], teacher[k]) + 1e-12);
      });
    }
  });

  it('writes genotype.json, history.json, one SVG per generation and a checkpoint', async () => {
    const genotype = genotypeFromJson(
      JSON.parse(await readFile(path.join(baselineDir, 'genotype.json'), 'utf8')),
    );
    expect(genotype).toEqual(baseline.best.genotype);
    const history = JSON.parse(
      await readFile(path.join(baselineDir, 'history.json'), 'utf8'),
    ) as SearchHistory;
    expect(withoutTiming(history)).toEqual(withoutTiming(baseline.history));
    // libs/nas' readers give back what the search wrote, timing included.
    expect(await readSearchHistory(path.join(baselineDir, 'history.json'))).toEqual(baseline.history);
    const { final, ...running } = baseline.history;
    expect(final).toBeDefined();
    expect(await readCheckpointHistory(baselineDir)).toEqual(running);
    expect((await readdir(path.join(baselineDir, 'cells'))).sort()).toEqual([
      'final.svg',
      'generation-000.svg',
      'generation-001.svg',
    ]);
    expect(await readFile(path.join(baselineDir, 'cells', 'final.svg'), 'utf8')).toContain(
      `final choice: member ${baseline.best.index}`,
    );
    const svg = await readFile(path.join(baselineDir, 'cells', 'generation-001.svg'), 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain(`member ${baseline.history.generations[1].best.index}`);
    const files = await readdir(path.join(baselineDir, 'checkpoint'));
    expect(files.sort()).toEqual(['checkpoint.json', 'weights-000002.safetensors']);
    const weights = await readSafetensors(path.join(baselineDir, 'checkpoint', 'weights-000002.safetensors'));
    expect(weights.metadata.format).toBe('rnas-weight-set/2');
  });

  it('repeats itself exactly from the same seed, and not from another; leaks no tensors', async () => {
    const tensors = tf.memory().numTensors;
    const again = await search({});
    expect(tf.memory().numTensors).toBe(tensors);
    expect(withoutTiming(again.history)).toEqual(withoutTiming(baseline.history));
    expect(again.population).toEqual(baseline.population);
    const other = await search({ seed: 4 });
    expect(other.history.generations[0].candidates[0].encoding).not.toEqual(
      baseline.history.generations[0].candidates[0].encoding,
    );
  });

  it('killed in the middle of a generation and resumed, ends exactly as the uninterrupted run', async () => {
    const dir = path.join(scratch, 'killed');
    const controller = new AbortController();
    await expect(
      search(
        {},
        {
          outDir: dir,
          signal: controller.signal,
          onEvent: (e) => {
            if (e.type === 'pair' && e.generation === 1 && e.pairsDone === 1)
              controller.abort(new Error('killed'));
          },
        },
      ),
    ).rejects.toThrow('killed');
    const partial = JSON.parse(await readFile(path.join(dir, 'history.json'), 'utf8')) as SearchHistory;
    expect(partial.generations).toHaveLength(1);

    const events: SearchEvent[] = [];
    const resumed = await search({}, { outDir: dir, resume: true, onEvent: (e) => events.push(e) });
    expect(events[0]).toMatchObject({ type: 'start', resumed: true, generationsDone: 1 });
    expect(withoutTiming(resumed.history)).toEqual(withoutTiming(baseline.history));
    expect(resumed.population).toEqual(baseline.population);
    const a = await readSafetensors(path.join(dir, 'checkpoint', 'weights-000002.safetensors'));
    const b = await readSafetensors(path.join(baselineDir, 'checkpoint', 'weights-000002.safetensors'));
    for (const name of Object.keys(b.tensors)) expect(a.tensors[name].data).toEqual(b.tensors[name].data);
  });

  it('refuses to overwrite a checkpoint, and to resume one with another configuration', async () => {
    await expect(search({}, { outDir: baselineDir })).rejects.toThrow(/already holds a search checkpoint/);
    await expect(search({ channels: 6 }, { outDir: baselineDir, resume: true })).rejects.toThrow(
      /written with channels = 4, but this run has channels = 6/,
    );
    const config = resolveSearchConfig(TINY);
    const other = await tinyData(40);
    await expect(
      runSearch({
        config,
        data: other,
        dataSource: 'synthetic:tiny',
        evaluator: new InProcessEvaluator(evaluatorSetup(config, other)),
        outDir: baselineDir,
        resume: true,
      }),
    ).rejects.toThrow(/was written for other data/);
    // A finished search resumes to its result without training anything.
    const events: SearchEvent[] = [];
    const done = await search({}, { outDir: baselineDir, resume: true, onEvent: (e) => events.push(e) });
    expect(events.some((e) => e.type === 'pair')).toBe(false);
    expect(done.best).toEqual(baseline.best);
  });

  it('fails with FAILED_PRECONDITION when every candidate diverges, as a training would', async () => {
    const events: SearchEvent[] = [];
    const failure = search({ lrMax: 10, lrMin: 10, generations: 1 }, { onEvent: (e) => events.push(e) });
    await expect(failure).rejects.toThrow(SearchDivergedError);
    await expect(failure).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      generation: 0,
      learningRate: 10,
    });
    await expect(failure).rejects.toThrow(
      /^search diverged: every candidate of generation 0 diverged at learning_rate=10 \(lowest training loss \S+, the limit is 1000000\); lower lr_max$/,
    );
    // The comparisons went out flagged before the search failed.
    const pairs = events.filter((e) => e.type === 'pair');
    expect(pairs.length).toBeGreaterThan(0);
    for (const e of pairs) {
      expect(e.candidates.map((c) => c.diverged)).toEqual([true, true]);
      expect(e.record.weightSetUpdated).toBe(false);
    }
  });

  it('flags no candidate of a search that learns', () => {
    for (const g of baseline.history.generations) {
      expect(g.candidates.map((c) => c.diverged)).toEqual(g.candidates.map(() => false));
    }
  });

  it('refuses fidelities larger than the splits', async () => {
    await expect(search({ trainImages: 1000 })).rejects.toThrow(
      /trainImages 1000 is more than the search-training split \(24 images\)/,
    );
    await expect(search({ valImages: 25 })).rejects.toThrow(
      /valImages 25 is more than the search-validation split/,
    );
  });
});

describe('runSearch (random search baseline)', () => {
  it('samples a fresh population each generation and evaluates it the same way, at the same budget', async () => {
    const r = await search({ strategy: 'random' });
    const [g0, g1] = r.history.generations;
    // Generation 0 is the same population with the same pairs as RelativeNAS from the same seed.
    expect(withoutTiming(g0)).toEqual(withoutTiming(baseline.history.generations[0]));
    expect(g1.candidates).toHaveLength(4);
    const before = new Set(g0.candidates.map((c) => JSON.stringify(c.encoding)));
    for (const c of g1.candidates) expect(before.has(JSON.stringify(c.encoding))).toBe(false);
    expect(r.history.generations.reduce((n, g) => n + g.candidates.length, 0)).toBe(
      baseline.history.generations.reduce((n, g) => n + g.candidates.length, 0),
    );
    // Its final choice is among every candidate it evaluated, in any generation, re-evaluated.
    const final = r.history.final;
    if (final === undefined) throw new Error('no final record');
    const evaluated = new Set([...g0.candidates, ...g1.candidates].map((c) => JSON.stringify(c.genotype)));
    expect(final.candidates).toHaveLength(evaluated.size);
    expect(new Set(final.candidates.map((c) => c.generation))).toEqual(new Set([0, 1]));
    expect(r.best.valLoss).toBe(Math.min(...final.candidates.map((c) => c.valLoss)));
  });
});

describe('runSearch with several pairs per wave', () => {
  it('runs the pairs of a wave from one snapshot (relaxed semantics) and stays deterministic', async () => {
    const a = await search({ pairsPerWave: 2 });
    const b = await search({ pairsPerWave: 2 });
    expect(withoutTiming(a.history)).toEqual(withoutTiming(b.history));
    // The first pair of each generation sees the same weight set either way.
    expect(a.history.generations[0].pairs[0]).toMatchObject({
      members: baseline.history.generations[0].pairs[0].members,
    });
  });
});

describe('runSearch data options', () => {
  it('augments validation images by default; --val-augment off validates on plain images', async () => {
    const plain = await search({ valAugment: false });
    const again = await search({ valAugment: false });
    expect(withoutTiming(again.history)).toEqual(withoutTiming(plain.history));
    const losses = (r: SearchResult): number[] => r.history.generations[0].candidates.map((c) => c.valLoss);
    expect(losses(plain)).not.toEqual(losses(baseline));
    expect(plain.history.final?.valAugmented).toBe(false);
  });

  it('gives each member its own data by default; --paired-data shares it within a pair', async () => {
    const paired = await search({ pairedData: true });
    const again = await search({ pairedData: true });
    expect(withoutTiming(again.history)).toEqual(withoutTiming(paired.history));
    // The same pairs (the pairing draws come first), other training data: other losses.
    expect(paired.history.generations[0].pairs.map((p) => p.members)).toEqual(
      baseline.history.generations[0].pairs.map((p) => p.members),
    );
    const losses = (r: SearchResult): number[] => r.history.generations[0].candidates.map((c) => c.trainLoss);
    expect(losses(paired)).not.toEqual(losses(baseline));
  });
});

describe('searchSplits', () => {
  it('cuts the training split by trainPortion, shuffled by the seed', async () => {
    const whole = {
      ...data.train,
      size: 48,
      images: new Uint8Array(48 * 64),
      labels: Int32Array.from({ length: 48 }, (_, i) => i % 3),
    };
    const s = searchSplits(whole, { trainPortion: 0.25, seed: 1 });
    expect(s.train.size).toBe(12);
    expect(s.val.size).toBe(36);
    expect(() =>
      searchSplits(
        { ...whole, size: 1, images: new Uint8Array(64), labels: Int32Array.from([0]) },
        { trainPortion: 0.5, seed: 1 },
      ),
    ).toThrow(/leaves an empty split/);
  });
});

describe('searchFromDataset', () => {
  it('splits the dataset, evaluates and searches as runSearch on searchSplits does, from the same seed', async () => {
    const dataset = await openDataset('synthetic:shapes?classes=3&size=8&channels=1&train=48&test=8&seed=5');
    const config = resolveSearchConfig(TINY);
    const data = searchSplits(dataset.train, config);
    const evaluator = new InProcessEvaluator(evaluatorSetup(config, data));
    const events: SearchEvent[] = [];
    let direct: SearchResult;
    try {
      direct = await runSearch({
        config,
        data,
        dataSource: dataset.uri,
        evaluator,
        onEvent: (e) => events.push(e),
      });
    } finally {
      await evaluator.close();
    }
    const tensors = tf.memory().numTensors;
    const seen: SearchEvent[] = [];
    const splits: SearchData[] = [];
    const assembled = await searchFromDataset({
      config,
      dataset,
      workers: 1,
      backend: 'cpu',
      onEvent: (e) => seen.push(e),
      onSplits: (d) => splits.push(d),
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(splits.map((d) => [d.train.size, d.val.size])).toEqual([[data.train.size, data.val.size]]);
    expect(withoutTiming(assembled.history)).toEqual(withoutTiming(direct.history));
    expect(assembled.history.data.source).toBe(dataset.uri);
    expect(assembled.population).toEqual(direct.population);
    expect(seen.map((e) => e.type)).toEqual(events.map((e) => e.type));
  });
});
