// Worker threads run the compiled evaluator (dist/), so this suite builds the packages it needs
// first; `tsc -b` is incremental, so this costs a second or two when nothing changed.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { initBackend, type BackendName } from '@rnas/engine';
import type { SearchData } from './candidate';
import { InProcessEvaluator, type Evaluator } from './evaluator';
import { withoutTiming } from './history';
import { evaluatorSetup, runSearch, type SearchResult } from './search';
import { resolveSearchConfig, type SearchConfig } from './search-config';
import { STUDENT, TEACHER, TINY_NETWORK, tinyData } from './test-fixtures';
import { WeightSet } from './weight-set';
import { WorkerPoolEvaluator } from './worker-pool';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

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
let backend: BackendName;

beforeAll(async () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'libs/data', 'libs/nas'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  backend = (await initBackend()).name;
  data = await tinyData();
}, 600_000);

async function searchWith(
  makeEvaluator: (config: SearchConfig) => Promise<Evaluator>,
): Promise<SearchResult> {
  const config = resolveSearchConfig(TINY);
  const evaluator = await makeEvaluator(config);
  try {
    return await runSearch({ config, data, dataSource: 'synthetic:tiny', evaluator });
  } finally {
    await evaluator.close();
  }
}

describe('WorkerPoolEvaluator', () => {
  it('gives the same search with 2 workers, 1 worker and in process', async () => {
    const pool2 = await searchWith((c) =>
      WorkerPoolEvaluator.start(evaluatorSetup(c, data), { workers: 2, backend }),
    );
    const pool1 = await searchWith((c) =>
      WorkerPoolEvaluator.start(evaluatorSetup(c, data), { workers: 1, backend }),
    );
    const inline = await searchWith(async (c) => new InProcessEvaluator(evaluatorSetup(c, data)));
    expect(withoutTiming(pool2.history)).toEqual(withoutTiming(pool1.history));
    expect(withoutTiming(pool1.history)).toEqual(withoutTiming(inline.history));
    expect(pool2.population).toEqual(inline.population);
  });

  it('reports a failed job without breaking the pool, and refuses work once closed', async () => {
    const config = resolveSearchConfig(TINY);
    const setup = evaluatorSetup(config, data);
    const pool = await WorkerPoolEvaluator.start(setup, { workers: 2, backend });
    expect(pool.concurrency).toBe(2);
    expect(pool.backend.name).toBe(backend);
    const ws = WeightSet.initialise(setup.network, 1);
    const ctx = {
      generation: 0,
      pair: 0,
      lr: 0.1,
      dropPath: 0,
      trainIndices: [
        Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
        Int32Array.from([7, 6, 5, 4, 3, 2, 1, 0]),
      ] as const,
      valIndices: Int32Array.from([0, 1, 2, 3]),
      augmentSeeds: [1, 4] as const,
      valAugmentSeeds: [5, 6] as const,
      dropPathSeeds: [2, 3] as const,
    };
    try {
      await expect(
        pool.evaluatePair(ws, [TEACHER, STUDENT], {
          ...ctx,
          trainIndices: [Int32Array.from([1e6]), Int32Array.from([0])],
        }),
      ).rejects.toThrow(/evaluator worker: .*1000000/);
      const [a, b] = await pool.evaluatePair(ws, [TEACHER, STUDENT], ctx);
      const [x, y] = await new InProcessEvaluator(setup).evaluatePair(ws, [TEACHER, STUDENT], ctx);
      expect(a.valLoss).toBe(x.valLoss);
      expect(b.valLoss).toBe(y.valLoss);
      // Arrays that crossed a thread boundary belong to Node's realm, not jest's: compare the values.
      expect(Array.from(a.params['classifier.weight'].data as Float32Array)).toEqual(
        Array.from(x.params['classifier.weight'].data as Float32Array),
      );
      // The final re-evaluation gives the same numbers on the pool as in process.
      const vctx = { valIndices: ctx.valIndices, valAugmentSeed: 9 };
      const pooled = await pool.validate(ws, [TEACHER, STUDENT, TEACHER], vctx);
      const local = await new InProcessEvaluator(setup).validate(ws, [TEACHER, STUDENT, TEACHER], vctx);
      expect(pooled.map((r) => r.valLoss)).toEqual(local.map((r) => r.valLoss));
      expect(pooled[0].valLoss).toBe(pooled[2].valLoss);
    } finally {
      await pool.close();
    }
    await expect(pool.evaluatePair(ws, [TEACHER, STUDENT], ctx)).rejects.toThrow(/closed/);
  });

  it('refuses bad worker counts and a missing worker script with clear errors', async () => {
    const setup = evaluatorSetup(resolveSearchConfig(TINY), data);
    await expect(WorkerPoolEvaluator.start(setup, { workers: 0 })).rejects.toThrow(
      /workers: expected an integer in \[1, 256\], got 0/,
    );
    await expect(
      WorkerPoolEvaluator.start(setup, { workers: 1, script: '/nonexistent/worker.js' }),
    ).rejects.toThrow(/does not exist; build the workspace first/);
  });
});
