import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  promises as fs,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { writeCifar10, writeCifar100 } from './cifar';
import { checkInt, invalidArgument } from './errors';
import { encodeIdx, writeIdxDataset } from './idx';
import { writeImageFolder, type ImageFormat } from './image-folder';
import { Rng } from './rng';
import type { ImageShape, LabelledImages } from './split';

/**
 * Synthetic classification data with learnable structure: each class is a shape (square, disc,
 * ring, triangle, stripes, cross, diamond, bar) in a colour (or grey level) of its own, drawn at a
 * jittered position and size over a noisy background. Class means differ, so even a nearest-mean
 * classifier beats chance, while position and size jitter leave something for a CNN to learn.
 */
export const SHAPES: readonly string[] = [
  'square',
  'disc',
  'ring',
  'triangle',
  'hstripes',
  'vstripes',
  'cross',
  'diamond',
];

export interface ShapesOptions {
  classes: number;
  /** Image side in pixels. */
  size: number;
  channels: 1 | 3;
  /** Training images and test images. */
  train: number;
  test: number;
  seed: number;
}

export interface SyntheticData {
  train: LabelledImages;
  test: LabelledImages;
  classNames: string[];
}

const MAX_SYNTHETIC_IMAGES = 1_000_000;

/** HSV (h in [0, 1), full saturation and value) to RGB bytes. */
function hueToRgb(h: number): [number, number, number] {
  const k = (n: number): number => {
    const x = (n + h * 6) % 6;
    return Math.round(255 * (1 - Math.max(0, Math.min(x, 4 - x, 1))));
  };
  return [k(5), k(3), k(1)];
}

/** The colour of class c: hues spread by the golden ratio, two brightness levels for many classes. */
function classColour(c: number, classes: number): [number, number, number] {
  const rgb = hueToRgb((c * 0.618033988749895) % 1);
  const dim = classes > SHAPES.length && Math.floor(c / SHAPES.length) % 2 === 1 ? 0.6 : 1;
  return [rgb[0] * dim, rgb[1] * dim, rgb[2] * dim].map(Math.round) as [number, number, number];
}

/** The grey level of class c for one-channel data. */
function classGrey(c: number): number {
  return 110 + ((Math.floor(c / SHAPES.length) * 53) % 146);
}

/** Whether (dx, dy) from the centre lies in shape `shape` of radius r; no Math calls, it runs per pixel. */
function inside(shape: number, dx: number, dy: number, r: number): boolean {
  const ax = dx < 0 ? -dx : dx;
  const ay = dy < 0 ? -dy : dy;
  switch (shape) {
    case 0:
      return ax <= r && ay <= r;
    case 1:
      return dx * dx + dy * dy <= r * r;
    case 2: {
      const d2 = dx * dx + dy * dy;
      return d2 <= r * r && d2 >= 0.36 * r * r;
    }
    case 3:
      return dy >= -r && dy <= r && ax <= (dy + r) / 2;
    case 4:
      return ax <= r && ay <= r && (((dy + r) / (r / 2)) | 0) % 2 === 0;
    case 5:
      return ax <= r && ay <= r && (((dx + r) / (r / 2)) | 0) % 2 === 0;
    case 6:
      return (ax <= r / 3 && ay <= r) || (ay <= r / 3 && ax <= r);
    default:
      return ax + ay <= r;
  }
}

function checkShapesOptions(options: ShapesOptions): void {
  checkInt('classes', options.classes, 2, 1000);
  checkInt('size', options.size, 8, 512);
  if (options.channels !== 1 && options.channels !== 3)
    throw invalidArgument('channels', options.channels, '1 or 3');
  checkInt('train', options.train, 1, MAX_SYNTHETIC_IMAGES);
  checkInt('test', options.test, 0, MAX_SYNTHETIC_IMAGES);
  checkInt('seed', options.seed, 0, Number.MAX_SAFE_INTEGER);
}

function drawSplit(options: ShapesOptions, count: number, rng: Rng): LabelledImages {
  const { classes, size, channels } = options;
  const shape: ImageShape = [size, size, channels];
  const per = size * size * channels;
  const images = new Uint8Array(count * per);
  // Balanced classes in a seeded order.
  const labels = rng.shuffle(Int32Array.from({ length: count }, (_, i) => i % classes));
  const colour = new Float64Array(channels);
  for (let n = 0; n < count; n++) {
    const c = labels[n];
    const kind = c % SHAPES.length;
    const base = channels === 3 ? classColour(c, classes) : [classGrey(c)];
    const gain = 0.8 + 0.2 * rng.nextFloat();
    for (let k = 0; k < channels; k++) colour[k] = base[k] * gain;
    const r = size * (0.2 + 0.15 * rng.nextFloat());
    const cx = size / 2 + (rng.nextFloat() - 0.5) * (size / 4);
    const cy = size / 2 + (rng.nextFloat() - 0.5) * (size / 4);
    const background = 20 + 40 * rng.nextFloat();
    let o = n * per;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const hit = inside(kind, x + 0.5 - cx, y + 0.5 - cy, r);
        for (let k = 0; k < channels; k++) {
          const v = (hit ? colour[k] : background) + (rng.nextUint32() / 4294967296 - 0.5) * 40;
          images[o++] = v < 0 ? 0 : v > 255 ? 255 : (v + 0.5) | 0;
        }
      }
    }
  }
  return { imageShape: shape, images, labels };
}

/** Generates the train and test splits of a shapes dataset, deterministically from the seed. */
export function generateShapes(options: ShapesOptions): SyntheticData {
  checkShapesOptions(options);
  const rng = Rng.fromSeed(options.seed);
  const train = drawSplit(options, options.train, rng);
  const test = drawSplit(options, options.test, rng);
  const classNames = Array.from({ length: options.classes }, (_, c) =>
    options.classes <= SHAPES.length
      ? SHAPES[c]
      : `${SHAPES[c % SHAPES.length]}-${Math.floor(c / SHAPES.length)}`,
  );
  return { train, test, classNames };
}

/** The formats a synthetic dataset can be written in, with the URI scheme that reads each back. */
export type SyntheticFormat = 'idx' | 'idx-raw' | 'cifar10' | 'cifar100' | 'imagefolder';

export interface WriteSyntheticOptions {
  format: SyntheticFormat;
  train: number;
  test: number;
  seed: number;
  /** Image folders only: side (default 32), channels (default 3), classes (default 10), formats (default png, jpeg, webp in turn). */
  size?: number;
  channels?: 1 | 3;
  classes?: number;
  imageFormats?: readonly ImageFormat[];
}

/**
 * Writes a shapes dataset into `dir` in one of the real formats, with the shape that format
 * implies (IDX: 28x28 greyscale, 10 classes; CIFAR: 32x32 RGB with 10 or 100 classes, the
 * latter with 20 coarse classes of 5 fine ones each, like the real CIFAR-100). Returns what it
 * wrote, so a test can compare what a loader reads back.
 */
export async function writeSyntheticDataset(
  dir: string,
  options: WriteSyntheticOptions,
): Promise<SyntheticData> {
  const { format, train, test, seed } = options;
  switch (format) {
    case 'idx':
    case 'idx-raw': {
      const data = generateShapes({ classes: 10, size: 28, channels: 1, train, test, seed });
      await writeIdxDataset(dir, data, { gzip: format === 'idx' });
      return data;
    }
    case 'cifar10': {
      const data = generateShapes({ classes: 10, size: 32, channels: 3, train, test, seed });
      await writeCifar10(dir, data);
      return data;
    }
    case 'cifar100': {
      const data = generateShapes({ classes: 100, size: 32, channels: 3, train, test, seed });
      const withCoarse = (split: LabelledImages): LabelledImages => ({
        ...split,
        coarseLabels: split.labels.map((l) => Math.floor(l / 5)),
      });
      const coarseClassNames = Array.from({ length: 20 }, (_, k) => `group-${k}`);
      const out = { train: withCoarse(data.train), test: withCoarse(data.test), classNames: data.classNames };
      await writeCifar100(dir, { ...out, fineClassNames: data.classNames, coarseClassNames });
      return out;
    }
    case 'imagefolder': {
      const data = generateShapes({
        classes: options.classes ?? 10,
        size: options.size ?? 32,
        channels: options.channels ?? 3,
        train,
        test,
        seed,
      });
      await writeImageFolder(dir, data, { formats: options.imageFormats ?? ['png', 'jpeg', 'webp'] });
      return data;
    }
    default:
      throw invalidArgument('format', format, 'idx, idx-raw, cifar10, cifar100 or imagefolder');
  }
}

/** A data root in a new temporary directory, holding one small synthetic image folder. */
export interface TemporaryDataRoot {
  /** The temporary directory (remove it when done). */
  dir: string;
  /** `<dir>/data`: what a service takes as its data root. */
  dataRoot: string;
  /** The image folder's URI, e.g. `imagefolder:<dir>/data/shapes?size=8&channels=1`. */
  datasetUri: string;
}

/**
 * For tests and examples: a 3-class 8x8 greyscale image folder of shapes (PNG) under a data root
 * in a new temporary directory whose name starts with `prefix`.
 */
export async function temporaryDataRoot(
  prefix: string,
  options: { train: number; test: number; seed: number },
): Promise<TemporaryDataRoot> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const dataRoot = path.join(dir, 'data');
  const folder = path.join(dataRoot, 'shapes');
  await writeSyntheticDataset(folder, {
    format: 'imagefolder',
    ...options,
    size: 8,
    channels: 1,
    classes: 3,
    imageFormats: ['png'],
  });
  return { dir, dataRoot, datasetUri: `imagefolder:${folder}?size=8&channels=1` };
}

/**
 * For tests of the size limit: an MNIST-layout directory (`fashion-mnist:<dir>`) whose training
 * images file is a gzip stream of `bytes` zeros (a decompression bomb: a few hundred KiB that
 * decompress to `bytes`, its trailer stating their size), with a valid empty labels file beside
 * it. Written streaming, never holding the decompressed bytes.
 */
export async function writeGzipBombDataset(dir: string, bytes: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx([0], new Uint8Array(0)));
  const zeros = new Uint8Array(1024 * 1024);
  async function* source(): AsyncGenerator<Uint8Array> {
    for (let left = bytes; left > 0; left -= zeros.length) {
      yield left >= zeros.length ? zeros : zeros.subarray(0, left);
    }
  }
  await pipeline(
    Readable.from(source()),
    createGzip({ level: 1 }),
    createWriteStream(path.join(dir, 'train-images-idx3-ubyte.gz')),
  );
}

/**
 * For tests of datasets refused before a byte of them is decoded, three MNIST-layout directories
 * under `root`: `large`, whose training images file is `largeBytes` long (sparse: past a size
 * limit); `no-labels`, with images and no labels file; `escapes`, whose images file is a symlink
 * to `<outside>/secret`, a file outside the root.
 */
export function writeRefusedDatasets(root: string, outside: string, largeBytes: number): void {
  const images = 'train-images-idx3-ubyte';
  const labels = 'train-labels-idx1-ubyte';
  mkdirSync(path.join(root, 'large'), { recursive: true });
  writeFileSync(path.join(root, 'large', labels), '');
  writeFileSync(path.join(root, 'large', images), '');
  truncateSync(path.join(root, 'large', images), largeBytes);
  mkdirSync(path.join(root, 'no-labels'));
  writeFileSync(path.join(root, 'no-labels', images), '');
  mkdirSync(outside, { recursive: true });
  writeFileSync(path.join(outside, 'secret'), '');
  mkdirSync(path.join(root, 'escapes'));
  writeFileSync(path.join(root, 'escapes', labels), '');
  symlinkSync(path.join(outside, 'secret'), path.join(root, 'escapes', images));
}
