// The pure parts of `rnas demo` (the full demo takes minutes and is run by `make demo`, not here;
// its service processes are tested in demo-services.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Genotype } from '@rnas/proto';
import { runCli } from '../program';
import type { CliIo } from '../io';
import {
  accuracy,
  datasetMissingMessage,
  datasetUri,
  defaultOutDir,
  DEMO_DEFAULTS,
  genotypeJson,
  missingDatasetFiles,
  perClassAccuracy,
  resolveDemoConfig,
  resultLine,
  seconds,
} from './demo-config';

const NOW = new Date(2026, 10, 28, 4, 37, 5);

describe('resolveDemoConfig', () => {
  it('fills every default and puts the run under runs/demo-<local time>', () => {
    const config = resolveDemoConfig({}, NOW);
    expect(config.outDir).toBe(path.resolve('runs/demo-20261128-043705'));
    expect(config.dataRoot).toBe('/usr/share/datasets');
    expect(config.search).toEqual({
      population: DEMO_DEFAULTS.population,
      generations: DEMO_DEFAULTS.generations,
      layers: DEMO_DEFAULTS.searchLayers,
      channels: DEMO_DEFAULTS.searchChannels,
      batchSize: DEMO_DEFAULTS.searchBatchSize,
      images: DEMO_DEFAULTS.searchImages,
    });
    expect(config.classify.images).toBe(10_000);
    expect(config.modelName).toBe('fashion-mnist-demo');
    expect(datasetUri(config)).toBe('fashion-mnist:/usr/share/datasets/fashion-mnist');
  });

  it('takes the flags, resolving directories against the working directory', () => {
    const config = resolveDemoConfig(
      {
        dataRoot: 'data',
        out: '/tmp/x',
        seed: 0,
        population: 4,
        generations: 1,
        searchLayers: 5,
        searchChannels: 4,
        searchImages: 64,
        layers: 4,
        channels: 6,
        epochs: 3,
        trainImages: 32,
        classifyImages: 100,
        concurrency: 2,
        model: 'm.1',
      },
      NOW,
    );
    expect(config).toMatchObject({
      dataRoot: path.resolve('data'),
      outDir: '/tmp/x',
      seed: 0,
      search: { population: 4, generations: 1, layers: 5, channels: 4, images: 64 },
      // The batch never exceeds the epoch, nor the per-epoch evaluation the images classified.
      training: { layers: 4, channels: 6, epochs: 3, trainImages: 32, batchSize: 32, evalImages: 100 },
      classify: { images: 100, concurrency: 2 },
      modelName: 'm.1',
    });
  });

  it.each([
    [{ population: 3 }, '--population: expected an even number >= 2, got 3'],
    [{ searchLayers: 2 }, '--search-layers: expected at least 3, got 2'],
    [{ layers: 1 }, '--layers: expected at least 3, got 1'],
    [{ classifyImages: 10_001 }, '--classify-images: the test set has 10000 images, got 10001'],
    [{ model: 'Bad Name' }, '--model: expected 1 to 64 characters'],
    [{ model: 'x'.repeat(65) }, '--model: expected 1 to 64 characters'],
    [{ dataRoot: ' ' }, '--data-root: expected a directory'],
    [{ out: '' }, '--out: expected a directory'],
  ])('refuses %j, naming the flag and the value', (options, message) => {
    expect(() => resolveDemoConfig(options, NOW)).toThrow(message);
  });

  it('numbers runs by local time, zero-padded', () => {
    expect(defaultOutDir(new Date(2027, 0, 2, 3, 4, 5))).toBe(path.join('runs', 'demo-20270102-030405'));
  });
});

describe('rnas demo flags', () => {
  function capture(): CliIo & { err: string[] } {
    const err: string[] = [];
    return { err, stdout: { write: () => true }, stderr: { write: (t: string) => err.push(t) }, env: {} };
  }

  it.each([
    [['--epochs', '0'], "option '--epochs <n>' argument '0' is invalid"],
    [['--population', '-2'], "option '--population <n>' argument '-2' is invalid"],
    [['--concurrency', '1e3'], "option '--concurrency <n>' argument '1e3' is invalid"],
    [['--population', '5'], 'rnas: --population: expected an even number >= 2, got 5'],
  ])('refuses %j before starting anything', async (argv, message) => {
    const io = capture();
    expect(await runCli(['demo', ...argv], io)).not.toBe(0);
    expect(io.err.join('')).toContain(message);
  });

  it('says how to install the dataset when it is missing, and exits 1', async () => {
    const io = capture();
    const root = mkdtempSync(path.join(tmpdir(), 'rnas-demo-'));
    try {
      expect(await runCli(['demo', '--data-root', root, '--out', path.join(root, 'run')], io)).toBe(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    expect(io.err.join('')).toContain('sudo apt-get install dataset-fashion-mnist');
    expect(io.err.join('')).toContain(`${root}/fashion-mnist does not exist`);
  });
});

describe('dataset check', () => {
  const dir = '/d/fashion-mnist';
  it('accepts the gzipped, plain and dotted names of each file', () => {
    const present = new Set([
      `${dir}/train-images-idx3-ubyte.gz`,
      `${dir}/train-labels-idx1-ubyte`,
      `${dir}/t10k-images.idx3-ubyte`,
      `${dir}/t10k-labels-idx1-ubyte.gz`,
    ]);
    expect(missingDatasetFiles(dir, (f) => present.has(f))).toEqual([]);
  });

  it('lists the files that are missing', () => {
    const present = new Set([`${dir}/train-images-idx3-ubyte.gz`, `${dir}/train-labels-idx1-ubyte.gz`]);
    const missing = missingDatasetFiles(dir, (f) => present.has(f));
    expect(missing).toEqual(['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']);
    expect(datasetMissingMessage(dir, true, missing)).toContain(
      'lacks t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz)',
    );
  });
});

describe('results', () => {
  it('computes the share of right predictions', () => {
    expect(accuracy([1, 2, 3, 4], Int32Array.from([1, 2, 0, 4]))).toBe(0.75);
    expect(() => accuracy([1], [1, 2])).toThrow('1 predictions for 2 labels');
    expect(() => accuracy([], [])).toThrow('no predictions');
  });

  it('computes the accuracy of each class, NaN for a class without images', () => {
    expect(perClassAccuracy([0, 1, 1, 2], [0, 1, 2, 2], 4)).toEqual([1, 1, 0.5, NaN]);
    expect(() => perClassAccuracy([0], [4], 4)).toThrow('labels[0]: 4 is not a class index below 4');
    expect(() => perClassAccuracy([0], [-1], 4)).toThrow('labels[0]: -1');
  });

  it('formats the last line with four decimals, and refuses an accuracy outside [0, 1]', () => {
    expect(resultLine(0.71914, 'fashion-mnist-demo', 1)).toBe(
      'demo: accuracy=0.7191 model=fashion-mnist-demo version=1',
    );
    expect(resultLine(1, 'm', 12)).toBe('demo: accuracy=1.0000 model=m version=12');
    expect(() => resultLine(NaN, 'm', 1)).toThrow('accuracy NaN is not in [0, 1]');
    expect(() => resultLine(1.5, 'm', 1)).toThrow('not in [0, 1]');
  });

  it('prints a genotype in libs/nas form', () => {
    const g: Genotype = {
      normal: [
        { op: 'sep_conv_3x3', input: 0 },
        { op: 'skip_connect', input: 1 },
      ],
      normalConcat: [2],
      reduce: [{ op: 'max_pool_3x3', input: 1 }],
      reduceConcat: [2],
    };
    expect(JSON.parse(genotypeJson(g))).toEqual({
      normal: [
        ['sep_conv_3x3', 0],
        ['skip_connect', 1],
      ],
      normalConcat: [2],
      reduce: [['max_pool_3x3', 1]],
      reduceConcat: [2],
    });
  });

  it('formats durations', () => {
    expect(seconds(42_340)).toBe('42.3 s');
    expect(seconds(185_000)).toBe('3 min 05 s');
  });
});
