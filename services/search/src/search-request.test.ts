import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { InvalidArgumentError } from '@rnas/grpc';
import { DEFAULT_SEARCH_CONFIG, PRIMITIVES } from '@rnas/nas';
import { SearchStrategy } from '@rnas/proto';
import { resolveStartSearch, searchConfigToProto } from './search-request';

let root: string;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rnas-search-request-'));
  mkdirSync(path.join(root, 'fashion-mnist'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const limits = () => ({ maxWorkers: 2, dataRoots: [root] });

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
