import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { InvalidArgumentError, ResourceExhaustedError } from '@rnas/grpc';
import { DEFAULT_SEARCH_CONFIG, PRIMITIVES } from '@rnas/nas';
import { SearchStrategy } from '@rnas/proto';
import {
  DEFAULT_MAX_SEARCH_BUDGET,
  resolveStartSearch,
  searchBudget,
  searchConfigToProto,
  WHOLE_SPLIT_IMAGES,
} from './search-request';

let root: string;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rnas-search-request-'));
  mkdirSync(path.join(root, 'fashion-mnist'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const limits = (maxBudget = 0) => ({ maxWorkers: 2, dataRoots: [root], maxBudget });

describe('resolveStartSearch', () => {
  it('takes the paper’s defaults for absent fields, and picks and records a seed', async () => {
    const resolved = await resolveStartSearch({ datasetUri: 'fashion-mnist:fashion-mnist' }, limits());
    expect(resolved.config).toEqual({ ...DEFAULT_SEARCH_CONFIG, seed: resolved.config.seed });
    expect(resolved.config.seed).toBeGreaterThanOrEqual(0);
    expect(resolved.config.seed).toBeLessThan(2 ** 32);
    expect(resolved.workers).toBe(1);
    expect(resolved.datasetUri).toBe('fashion-mnist:fashion-mnist');
  });

  it('maps every field, caps the workers, and converts back to the same message', async () => {
    const config = {
      strategy: SearchStrategy.SEARCH_STRATEGY_RANDOM,
      population: 6,
      generations: 7,
      layers: 5,
      channels: 8,
      batchSize: 32,
      trainImages: 100,
      valImages: 50,
      lrMax: 0.2,
      lrMin: 0.01,
      momentum: 0.8,
      weightDecay: 1e-4,
      gradClip: 2,
      dropPath: 0.1,
      cutout: 4,
      trainPortion: 0.6,
      primitives: ['skip_connect', 'sep_conv_3x3'],
      workers: 8,
      valAugment: false,
      pairedData: true,
      pairsPerWave: 3,
    };
    const resolved = await resolveStartSearch({ datasetUri: 'synthetic:shapes', seed: 9, config }, limits());
    expect(resolved.config).toMatchObject({
      strategy: 'random',
      seed: 9,
      steps: 4,
      pairsPerWave: 3,
      valAugment: false,
      pairedData: true,
    });
    expect(resolved.workers).toBe(2);
    expect(searchConfigToProto(resolved.config, resolved.workers)).toEqual({ ...config, workers: 2 });
    const all = await resolveStartSearch(
      { datasetUri: 'synthetic:shapes', config: { ...config, workers: 0 } },
      limits(),
    );
    expect(all.workers).toBe(2);
    expect(searchConfigToProto(DEFAULT_SEARCH_CONFIG, 1).primitives).toEqual([...PRIMITIVES]);
  });

  it('names the protobuf field and the value, also for rules that span fields', async () => {
    const error = (await resolveStartSearch(
      { datasetUri: 'synthetic:shapes', config: { strategy: 0, primitives: [], batchSize: 0 } },
      limits(),
    ).catch((e: unknown) => e)) as InvalidArgumentError;
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toBe('invalid config.batch_size=0: expected an integer in [1, 4096]');
    await expect(
      resolveStartSearch(
        { datasetUri: 'synthetic:shapes', config: { strategy: 0, primitives: [], population: 3 } },
        limits(),
      ),
    ).rejects.toThrow('invalid config.population=3: expected even');
    await expect(
      resolveStartSearch({ datasetUri: 'synthetic:shapes', seed: 2 ** 32 }, limits()),
    ).rejects.toThrow('invalid seed=4294967296');
    await expect(
      resolveStartSearch(
        { datasetUri: 'synthetic:shapes', config: { strategy: 0, primitives: ['x'.repeat(1000)] } },
        limits(),
      ),
    ).rejects.toThrow('config.primitives[0]');
    // More pairs per wave than a generation has pairs, and none.
    await expect(
      resolveStartSearch(
        {
          datasetUri: 'synthetic:shapes',
          config: { strategy: 0, primitives: [], population: 4, pairsPerWave: 3 },
        },
        limits(),
      ),
    ).rejects.toThrow('invalid config.pairs_per_wave=3');
    await expect(
      resolveStartSearch(
        { datasetUri: 'synthetic:shapes', config: { strategy: 0, primitives: [], pairsPerWave: 0 } },
        limits(),
      ),
    ).rejects.toThrow('invalid config.pairs_per_wave=0: expected an integer in [1, 500]');
  });
});

describe('the search budget', () => {
  const sized = (population: number, generations: number, trainImages: number, valImages: number) => ({
    datasetUri: 'synthetic:shapes',
    config: { strategy: 0, primitives: [], population, generations, trainImages, valImages },
  });

  it('is population x generations x images per comparison, a whole split counting as the most a field asks', () => {
    expect(
      searchBudget({
        ...DEFAULT_SEARCH_CONFIG,
        population: 8,
        generations: 3,
        trainImages: 256,
        valImages: 256,
      }),
    ).toEqual({
      population: 8,
      generations: 3,
      imagesPerComparison: 512,
      budget: 12_288,
    });
    expect(
      searchBudget({ ...DEFAULT_SEARCH_CONFIG, trainImages: 0, valImages: 100 }).imagesPerComparison,
    ).toBe(WHOLE_SPLIT_IMAGES + 100);
  });

  it('admits by default the README’s and the demo’s search and the tests’ largest', async () => {
    const limit = limits(DEFAULT_MAX_SEARCH_BUDGET);
    // README.md and `make demo`: population 8, 3 generations, 256 + 256 images per comparison;
    // the demo with DEMO_ARGS="--generations 5".
    await expect(resolveStartSearch(sized(8, 3, 256, 256), limit)).resolves.toHaveProperty(
      'datasetUri',
      'synthetic:shapes',
    );
    await expect(resolveStartSearch(sized(8, 5, 256, 256), limit)).resolves.toHaveProperty(
      'datasetUri',
      'synthetic:shapes',
    );
    // search-service.test.ts's slow search.
    await expect(resolveStartSearch(sized(4, 5, 20_000, 1_000), limit)).resolves.toHaveProperty(
      'datasetUri',
      'synthetic:shapes',
    );
  });

  it('refuses a search above the limit, naming the limit, the budget and its factors; at the limit is fine', async () => {
    // 4 x 10 x (100 + 50) = 6000.
    await expect(resolveStartSearch(sized(4, 10, 100, 50), limits(6000))).resolves.toHaveProperty(
      'datasetUri',
      'synthetic:shapes',
    );
    const error = (await resolveStartSearch(sized(4, 10, 100, 50), limits(5999)).catch(
      (e: unknown) => e,
    )) as Error;
    expect(error).toBeInstanceOf(ResourceExhaustedError);
    expect(error.message).toBe(
      'search budget 6000 = config.population 4 x config.generations 10 x images per comparison 150 ' +
        '(config.train_images 100 + config.val_images 50) is above --max-search-budget ' +
        '(RNAS_MAX_SEARCH_BUDGET) 5999: ask for fewer members, generations or images',
    );
    // The paper's search over whole splits is far above the default.
    await expect(
      resolveStartSearch({ datasetUri: 'synthetic:shapes' }, limits(DEFAULT_MAX_SEARCH_BUDGET)),
    ).rejects.toThrow(
      'search budget 20000000000 = config.population 20 x config.generations 50 x images per comparison ' +
        '20000000 (config.train_images 0 (the whole split, counted as 10000000) + config.val_images 0 ' +
        '(the whole split, counted as 10000000)) is above --max-search-budget (RNAS_MAX_SEARCH_BUDGET) 50000000',
    );
    // The largest search the request bounds allow stays a safe integer, and 0 is no limit.
    const largest = sized(1000, 10_000, 0, 0);
    await expect(resolveStartSearch(largest, limits(DEFAULT_MAX_SEARCH_BUDGET))).rejects.toThrow(
      'search budget 200000000000000 ',
    );
    await expect(resolveStartSearch(largest, limits(0))).resolves.toHaveProperty(
      'datasetUri',
      'synthetic:shapes',
    );
  });

  it('answers an invalid request INVALID_ARGUMENT even when it is also too large', async () => {
    await expect(resolveStartSearch(sized(1001, 10_000, 0, 0), limits(1))).rejects.toThrow(
      'invalid config.population=1001',
    );
  });
});
