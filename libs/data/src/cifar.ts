import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DataFormatError, invalidArgument } from './errors';
import { exists, findFile, readDataFile, type LoadContext } from './files';
import type { LabelledImages } from './split';

/**
 * The CIFAR binary formats: headerless records of label byte(s) then a 32x32 image stored as
 * three planes (all red, all green, all blue). CIFAR-10 records have one label; CIFAR-100 records
 * have the coarse label then the fine one. Images are converted to NHWC when read.
 */
const SIDE = 32;
const PLANE = SIDE * SIDE;
const IMAGE = 3 * PLANE;

export const CIFAR10_TRAIN_FILES: readonly string[] = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_META_FILE = 'batches.meta.txt';
export const CIFAR100_TRAIN_FILE = 'train.bin';
export const CIFAR100_TEST_FILE = 'test.bin';
export const CIFAR100_COARSE_NAMES_FILE = 'coarse_label_names.txt';
export const CIFAR100_FINE_NAMES_FILE = 'fine_label_names.txt';
const MAX_NAMES_FILE_BYTES = 1024 * 1024;

export interface CifarLabels {
  /** Label bytes before each image: 1 for CIFAR-10, 2 (coarse, fine) for CIFAR-100. */
  labelBytes: 1 | 2;
  /** Classes of each label byte, in record order. */
  classes: readonly number[];
}

/** Decodes one CIFAR binary file; labels[k] holds the k-th label byte of every record. */
export function decodeCifar(
  bytes: Uint8Array,
  file: string,
  format: CifarLabels,
): { images: Uint8Array; labels: Int32Array[] } {
  const record = format.labelBytes + IMAGE;
  if (bytes.length === 0) throw new DataFormatError(file, 0, `records of ${record} bytes`, 'an empty file');
  const count = Math.floor(bytes.length / record);
  if (bytes.length % record !== 0) {
    throw new DataFormatError(
      file,
      count * record,
      `a whole record of ${record} bytes (label${format.labelBytes === 2 ? 's' : ''} and a 32x32x3 image)`,
      `${bytes.length % record} bytes (truncated or not a CIFAR file)`,
    );
  }
  const labels = format.classes.map(() => new Int32Array(count));
  const images = new Uint8Array(count * IMAGE);
  for (let r = 0; r < count; r++) {
    const base = r * record;
    for (let k = 0; k < format.labelBytes; k++) {
      const label = bytes[base + k];
      if (label >= format.classes[k]) {
        throw new DataFormatError(file, base + k, `a label in [0, ${format.classes[k] - 1}]`, String(label));
      }
      labels[k][r] = label;
    }
    const src = base + format.labelBytes;
    const dst = r * IMAGE;
    for (let p = 0; p < PLANE; p++) {
      images[dst + 3 * p] = bytes[src + p];
      images[dst + 3 * p + 1] = bytes[src + PLANE + p];
      images[dst + 3 * p + 2] = bytes[src + 2 * PLANE + p];
    }
  }
  return { images, labels };
}

/** Encodes NHWC 32x32x3 images with their label bytes as one CIFAR binary file. */
export function encodeCifar(images: Uint8Array, labels: readonly Int32Array[]): Uint8Array {
  const count = labels[0].length;
  if (images.length !== count * IMAGE) {
    throw invalidArgument('images.length', images.length, `${count * IMAGE} (${count} images of 32x32x3)`);
  }
  const record = labels.length + IMAGE;
  const out = new Uint8Array(count * record);
  for (let r = 0; r < count; r++) {
    const base = r * record;
    labels.forEach((l, k) => {
      if (l.length !== count) throw invalidArgument(`labels[${k}].length`, l.length, String(count));
      if (l[r] < 0 || l[r] > 255) throw invalidArgument(`labels[${k}][${r}]`, l[r], 'a label in [0, 255]');
      out[base + k] = l[r];
    });
    const src = r * IMAGE;
    const dst = base + labels.length;
    for (let p = 0; p < PLANE; p++) {
      out[dst + p] = images[src + 3 * p];
      out[dst + PLANE + p] = images[src + 3 * p + 1];
      out[dst + 2 * PLANE + p] = images[src + 3 * p + 2];
    }
  }
  return out;
}

/** Reads a label-names file: one name per line, trailing blank lines allowed (the real files have them). */
export function decodeNames(bytes: Uint8Array, file: string, expected: number): string[] {
  const lines = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('utf8')
    .split('\n')
    .map((l) => l.replace(/\r$/, '').trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const blank = lines.indexOf('');
  if (blank >= 0)
    throw new DataFormatError(file, undefined, `a class name on line ${blank + 1}`, 'a blank line');
  if (lines.length !== expected) {
    throw new DataFormatError(file, undefined, `${expected} class names, one per line`, `${lines.length}`);
  }
  return lines;
}

/** The directory holding the files: `dir` itself or the folder the official archive unpacks to. */
async function cifarDir(dir: string, probe: string, archiveFolder: string): Promise<string> {
  if (await exists(path.join(dir, probe))) return dir;
  const nested = path.join(dir, archiveFolder);
  return (await exists(path.join(nested, probe))) ? nested : dir;
}

async function readCifarFiles(
  ctx: LoadContext,
  dir: string,
  names: readonly string[],
  format: CifarLabels,
): Promise<LabelledImages & { allLabels: Int32Array[] }> {
  const parts: { images: Uint8Array; labels: Int32Array[] }[] = [];
  for (const name of names) {
    const file = await findFile(ctx, dir, [name]);
    parts.push(decodeCifar(await readDataFile(file, ctx.maxFileBytes), file, format));
  }
  const count = parts.reduce((n, p) => n + p.labels[0].length, 0);
  const images = new Uint8Array(count * IMAGE);
  const allLabels = format.classes.map(() => new Int32Array(count));
  let at = 0;
  for (const part of parts) {
    images.set(part.images, at * IMAGE);
    part.labels.forEach((l, k) => allLabels[k].set(l, at));
    at += part.labels[0].length;
  }
  const labels = allLabels[allLabels.length - 1];
  return { imageShape: [SIDE, SIDE, 3], images, labels, allLabels };
}

async function readNames(ctx: LoadContext, dir: string, name: string, expected: number): Promise<string[]> {
  const file = await findFile(ctx, dir, [name]);
  return decodeNames(await readDataFile(file, MAX_NAMES_FILE_BYTES), file, expected);
}

export async function loadCifar10(
  ctx: LoadContext,
  root: string,
): Promise<{ train: LabelledImages; test: LabelledImages; classNames: string[] }> {
  const dir = await cifarDir(root, CIFAR10_META_FILE, 'cifar-10-batches-bin');
  const format: CifarLabels = { labelBytes: 1, classes: [10] };
  const classNames = await readNames(ctx, dir, CIFAR10_META_FILE, 10);
  const { allLabels: _a, ...train } = await readCifarFiles(ctx, dir, CIFAR10_TRAIN_FILES, format);
  const { allLabels: _b, ...test } = await readCifarFiles(ctx, dir, [CIFAR10_TEST_FILE], format);
  return { train, test, classNames };
}

export async function loadCifar100(
  ctx: LoadContext,
  root: string,
  label: 'fine' | 'coarse',
): Promise<{
  train: LabelledImages;
  test: LabelledImages;
  classNames: string[];
  coarseClassNames: string[];
}> {
  const dir = await cifarDir(root, CIFAR100_FINE_NAMES_FILE, 'cifar-100-binary');
  const format: CifarLabels = { labelBytes: 2, classes: [20, 100] };
  const coarseClassNames = await readNames(ctx, dir, CIFAR100_COARSE_NAMES_FILE, 20);
  const fineClassNames = await readNames(ctx, dir, CIFAR100_FINE_NAMES_FILE, 100);
  const pick = ({
    imageShape,
    images,
    allLabels,
  }: LabelledImages & { allLabels: Int32Array[] }): LabelledImages => ({
    imageShape,
    images,
    labels: label === 'fine' ? allLabels[1] : allLabels[0],
    coarseLabels: allLabels[0],
  });
  const train = pick(await readCifarFiles(ctx, dir, [CIFAR100_TRAIN_FILE], format));
  const test = pick(await readCifarFiles(ctx, dir, [CIFAR100_TEST_FILE], format));
  return { train, test, classNames: label === 'fine' ? fineClassNames : coarseClassNames, coarseClassNames };
}

function checkCifarImages(field: string, split: LabelledImages): void {
  const [h, w, c] = split.imageShape;
  if (h !== SIDE || w !== SIDE || c !== 3) {
    throw invalidArgument(
      `${field}.imageShape`,
      `${h}x${w}x${c}`,
      '32x32x3 (the CIFAR formats have no header)',
    );
  }
}

function checkNames(field: string, names: readonly string[], expected: number): void {
  if (names.length !== expected || names.some((n) => n.trim() === '' || /[\r\n]/.test(n))) {
    throw invalidArgument(field, names, `${expected} non-blank single-line names`);
  }
}

/** Writes CIFAR-10's binary layout: five training batches, the test batch and the class names. */
export async function writeCifar10(
  dir: string,
  data: { train: LabelledImages; test: LabelledImages; classNames: readonly string[] },
): Promise<string[]> {
  checkCifarImages('train', data.train);
  checkCifarImages('test', data.test);
  checkNames('classNames', data.classNames, 10);
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, bytes: Uint8Array | string): Promise<void> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, bytes);
    written.push(file);
  };
  const n = data.train.labels.length;
  for (const [b, name] of CIFAR10_TRAIN_FILES.entries()) {
    const start = Math.floor((b * n) / 5);
    const end = Math.floor(((b + 1) * n) / 5);
    const images = data.train.images.subarray(start * IMAGE, end * IMAGE);
    await write(name, encodeCifar(images, [data.train.labels.subarray(start, end)]));
  }
  await write(CIFAR10_TEST_FILE, encodeCifar(data.test.images, [data.test.labels]));
  // The real file ends with a blank line.
  await write(CIFAR10_META_FILE, `${data.classNames.join('\n')}\n\n`);
  return written;
}

/** Writes CIFAR-100's binary layout; `coarseLabels` must be present on both splits. */
export async function writeCifar100(
  dir: string,
  data: {
    train: LabelledImages;
    test: LabelledImages;
    fineClassNames: readonly string[];
    coarseClassNames: readonly string[];
  },
): Promise<string[]> {
  checkNames('fineClassNames', data.fineClassNames, 100);
  checkNames('coarseClassNames', data.coarseClassNames, 20);
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, split, field] of [
    [CIFAR100_TRAIN_FILE, data.train, 'train'],
    [CIFAR100_TEST_FILE, data.test, 'test'],
  ] as const) {
    checkCifarImages(field, split);
    if (split.coarseLabels === undefined)
      throw invalidArgument(`${field}.coarseLabels`, undefined, 'coarse labels');
    const file = path.join(dir, name);
    await fs.writeFile(file, encodeCifar(split.images, [split.coarseLabels, split.labels]));
    written.push(file);
  }
  for (const [name, names] of [
    [CIFAR100_COARSE_NAMES_FILE, data.coarseClassNames],
    [CIFAR100_FINE_NAMES_FILE, data.fineClassNames],
  ] as const) {
    const file = path.join(dir, name);
    await fs.writeFile(file, `${names.join('\n')}\n`);
    written.push(file);
  }
  return written;
}
