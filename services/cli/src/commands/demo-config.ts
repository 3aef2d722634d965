// The pure parts of `rnas demo`: its configuration (defaults sized for a 2-core machine, checked
// before anything starts), the dataset check, accuracy arithmetic, and the lines it prints.
// commands/demo.ts does the I/O.
import * as path from 'node:path';
import type { Genotype } from '@rnas/proto';

/** Debian's package that installs Fashion-MNIST under /usr/share/datasets/fashion-mnist. */
export const DATASET_PACKAGE = 'dataset-fashion-mnist';
export const DEFAULT_DATA_ROOT = '/usr/share/datasets';
export const DATASET_DIR = 'fashion-mnist';
export const TEST_SET_SIZE = 10_000;

/**
 * Everything the demo runs with. The defaults were measured on the 2-core development machine
 * (wasm backend, 2026-11-28): the search takes 1 to 2.5 minutes, the training 2 to 4 (3 epochs
 * with the cosine schedule reached 76% test accuracy where 2 epochs of as many images in all
 * reached 75%, and 2 of 4096 images 65 to 72%), classifying the whole test set 25 to 40 s.
 */
export interface DemoConfig {
  /** Directory whose fashion-mnist/ holds the dataset; the services' only data root. */
  dataRoot: string;
  /** Where the run keeps the services' state, model repository and logs. */
  outDir: string;
  seed: number;
  search: {
    population: number;
    generations: number;
    layers: number;
    channels: number;
    batchSize: number;
    /** Training images, and as many validation images, per comparison. */
    images: number;
  };
  training: {
    layers: number;
    channels: number;
    epochs: number;
    batchSize: number;
    learningRate: number;
    trainImages: number;
    /** Test images the training service evaluates after each epoch (the demo classifies them all). */
    evalImages: number;
  };
  classify: {
    /** Test images sent through Classify. */
    images: number;
    /** Images per Classify request. */
    requestImages: number;
    /** Requests in flight at once, which the service's dynamic batching merges. */
    concurrency: number;
  };
  modelName: string;
  /** How long to wait for a service to start and for the new model version to load. */
  startTimeoutMs: number;
}

/** The flags of `rnas demo`, as commander hands them over (absent: the default). */
export interface DemoOptions {
  dataRoot?: string;
  out?: string;
  seed?: number;
  population?: number;
  generations?: number;
  searchLayers?: number;
  searchChannels?: number;
  searchImages?: number;
  layers?: number;
  channels?: number;
  epochs?: number;
  trainImages?: number;
  classifyImages?: number;
  concurrency?: number;
  model?: string;
}

export const DEMO_DEFAULTS = {
  dataRoot: DEFAULT_DATA_ROOT,
  seed: 1,
  population: 8,
  generations: 3,
  searchLayers: 3,
  searchChannels: 8,
  searchBatchSize: 32,
  searchImages: 256,
  layers: 3,
  channels: 8,
  epochs: 3,
  batchSize: 64,
  learningRate: 0.05,
  trainImages: 4096,
  evalImages: 1000,
  classifyImages: TEST_SET_SIZE,
  requestImages: 8,
  concurrency: 16,
  model: 'fashion-mnist-demo',
  startTimeoutMs: 120_000,
} as const;

/** `runs/demo-20261128-043712` for that local time: sortable, one per second. */
export function defaultOutDir(now: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  const stamp =
    `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}-` +
    `${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
  return path.join('runs', `demo-${stamp}`);
}

const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * The configuration of the flags, checked as a whole before any service starts (the services
 * check again; this makes a typo fail in a second rather than minutes in). Throws an Error that
 * names the flag and the value.
 */
export function resolveDemoConfig(options: DemoOptions, now: Date): DemoConfig {
  const d = DEMO_DEFAULTS;
  const population = options.population ?? d.population;
  if (population < 2 || population % 2 !== 0) {
    throw new Error(`--population: expected an even number >= 2, got ${population}`);
  }
  const searchLayers = options.searchLayers ?? d.searchLayers;
  if (searchLayers < 3) throw new Error(`--search-layers: expected at least 3, got ${searchLayers}`);
  const layers = options.layers ?? d.layers;
  if (layers < 3) throw new Error(`--layers: expected at least 3, got ${layers}`);
  const classifyImages = options.classifyImages ?? d.classifyImages;
  if (classifyImages > TEST_SET_SIZE) {
    throw new Error(`--classify-images: the test set has ${TEST_SET_SIZE} images, got ${classifyImages}`);
  }
  const model = options.model ?? d.model;
  if (!MODEL_NAME.test(model)) {
    throw new Error(
      `--model: expected 1 to 64 characters of [a-z0-9._-] starting with a letter or digit, got ${JSON.stringify(model)}`,
    );
  }
  const dataRoot = options.dataRoot ?? d.dataRoot;
  if (dataRoot.trim() === '') throw new Error('--data-root: expected a directory, got ""');
  const outDir = options.out ?? defaultOutDir(now);
  if (outDir.trim() === '') throw new Error('--out: expected a directory, got ""');
  const trainImages = options.trainImages ?? d.trainImages;
  return {
    dataRoot: path.resolve(dataRoot),
    outDir: path.resolve(outDir),
    seed: options.seed ?? d.seed,
    search: {
      population,
      generations: options.generations ?? d.generations,
      layers: searchLayers,
      channels: options.searchChannels ?? d.searchChannels,
      batchSize: d.searchBatchSize,
      images: options.searchImages ?? d.searchImages,
    },
    training: {
      layers,
      channels: options.channels ?? d.channels,
      epochs: options.epochs ?? d.epochs,
      batchSize: Math.min(d.batchSize, trainImages),
      learningRate: d.learningRate,
      trainImages,
      evalImages: Math.min(d.evalImages, classifyImages),
    },
    classify: {
      images: classifyImages,
      requestImages: d.requestImages,
      concurrency: options.concurrency ?? d.concurrency,
    },
    modelName: model,
    startTimeoutMs: d.startTimeoutMs,
  };
}

/** The dataset URI the services are given. */
export function datasetUri(config: DemoConfig): string {
  return `fashion-mnist:${path.join(config.dataRoot, DATASET_DIR)}`;
}

/** The four files of Fashion-MNIST, each under any of the names the IDX loader accepts. */
const DATASET_FILES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

function variants(stem: string): string[] {
  return [`${stem}.gz`, stem, stem.replace(/-idx(\d)-ubyte$/, '.idx$1-ubyte')];
}

/** The dataset files missing from `dir` (empty when the dataset is complete). */
export function missingDatasetFiles(dir: string, exists: (file: string) => boolean): string[] {
  return DATASET_FILES.filter((stem) => !variants(stem).some((name) => exists(path.join(dir, name))));
}

/** What to do when the dataset is not there (`dirExists`: whether `dir` itself exists). */
export function datasetMissingMessage(dir: string, dirExists: boolean, missing: readonly string[]): string {
  const what = dirExists
    ? `${dir} lacks ${missing.map((m) => `${m}(.gz)`).join(', ')}`
    : `${dir} does not exist`;
  return (
    `Fashion-MNIST is not installed: ${what}.\n` +
    `Install Debian's package with:\n\n    sudo apt-get install ${DATASET_PACKAGE}\n\n` +
    'and run `make demo` again (or point --data-root at a directory holding fashion-mnist/).'
  );
}

/** Share of predictions equal to their label; throws on arrays of different lengths or none. */
export function accuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predicted.length !== labels.length) {
    throw new Error(`accuracy: ${predicted.length} predictions for ${labels.length} labels`);
  }
  if (labels.length === 0) throw new Error('accuracy: no predictions');
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) right++;
  return right / labels.length;
}

/** Accuracy on the images of each class, by class index; NaN for a class without images. */
export function perClassAccuracy(
  predicted: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): number[] {
  const seen = new Array<number>(classes).fill(0);
  const right = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i];
    if (!(k >= 0 && k < classes)) throw new Error(`labels[${i}]: ${k} is not a class index below ${classes}`);
    seen[k]++;
    if (predicted[i] === k) right[k]++;
  }
  return seen.map((n, k) => (n === 0 ? NaN : right[k] / n));
}

/** The demo's last line, which scripts parse. */
export function resultLine(acc: number, model: string, version: number): string {
  if (!(acc >= 0 && acc <= 1)) throw new Error(`accuracy ${acc} is not in [0, 1]`);
  return `demo: accuracy=${acc.toFixed(4)} model=${model} version=${version}`;
}

/** A genotype as one JSON line in libs/nas's form (what `rnas search` prints). */
export function genotypeJson(g: Genotype): string {
  const edges = (list: readonly { op: string; input: number }[]): [string, number][] =>
    list.map((e) => [e.op, e.input]);
  return JSON.stringify({
    normal: edges(g.normal),
    normalConcat: g.normalConcat,
    reduce: edges(g.reduce),
    reduceConcat: g.reduceConcat,
  });
}

/** Seconds with one decimal, or minutes and seconds past a minute: `42.3 s`, `3 min 05 s`. */
export function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}
