import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataFormatError, invalidArgument } from './errors';
import { findFile, hex, readDataFile, type LoadContext } from './files';
import type { LabelledImages } from './split';

/**
 * The IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a type byte, a
 * rank byte, one uint32 per dimension) followed by the data. Only unsigned bytes (type 0x08) occur
 * in these datasets.
 */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const IDX_UBYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Decodes an IDX file of unsigned bytes. The data is a view into `bytes`, never a copy. */
export function decodeIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new DataFormatError(file, 0, 'a 4-byte IDX magic number', `a file of ${bytes.length} bytes`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), hex).join('');
    throw new DataFormatError(file, 0, 'an IDX magic number 0x0000TTRR (e.g. 0x00000803)', `0x${magic}`);
  }
  if (bytes[2] !== IDX_UBYTE) {
    const name = IDX_TYPE_NAMES[bytes[2]] ?? 'unknown';
    throw new DataFormatError(file, 2, 'IDX data type 0x08 (unsigned byte)', `0x${hex(bytes[2])} (${name})`);
  }
  const rank = bytes[3];
  if (rank < 1 || rank > 4) throw new DataFormatError(file, 3, 'an IDX rank in [1, 4]', String(rank));
  const header = 4 + 4 * rank;
  if (bytes.length < header) {
    throw new DataFormatError(
      file,
      bytes.length,
      `a ${header}-byte header for rank ${rank}`,
      `the end of the file after ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  // Checked against the file length before anything is allocated: a header claiming 2^31 images
  // fails here at once.
  const expected = dims.reduce((a, b) => a * b, 1);
  const available = bytes.length - header;
  if (available !== expected) {
    throw new DataFormatError(
      file,
      header,
      `${expected} data bytes for dimensions ${dims.join('x')}`,
      available < expected
        ? `only ${available} (truncated)`
        : `${available} (${available - expected} trailing bytes)`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}

/** Encodes unsigned bytes as an IDX file. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (dims.length < 1 || dims.length > 4) throw invalidArgument('dims', dims, 'between 1 and 4 dimensions');
  dims.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw invalidArgument(`dims[${i}]`, d, 'a uint32');
  });
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected)
    throw invalidArgument('data.length', data.length, `${expected} (${dims.join('x')})`);
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  out[2] = IDX_UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, header);
  return out;
}

type IdxSplitName = 'train' | 't10k';

function idxNames(prefix: IdxSplitName, kind: 'images' | 'labels'): string[] {
  const rank = kind === 'images' ? 3 : 1;
  const stem = `${prefix}-${kind}-idx${rank}-ubyte`;
  // The original distribution's names, gzipped or not, and the dotted variant some mirrors use.
  return [`${stem}.gz`, stem, `${prefix}-${kind}.idx${rank}-ubyte`];
}

async function loadIdxSplit(
  ctx: LoadContext,
  dir: string,
  prefix: IdxSplitName,
  numClasses: number,
): Promise<LabelledImages> {
  const imagesFile = await findFile(ctx, dir, idxNames(prefix, 'images'));
  const labelsFile = await findFile(ctx, dir, idxNames(prefix, 'labels'));
  const images = decodeIdx(await readDataFile(imagesFile, ctx.maxFileBytes), imagesFile);
  if (images.dims.length !== 3) {
    throw new DataFormatError(
      imagesFile,
      3,
      'rank 3 (count, rows, columns) for images',
      `rank ${images.dims.length}`,
    );
  }
  const [count, rows, cols] = images.dims;
  if (rows === 0 || cols === 0) {
    throw new DataFormatError(imagesFile, 8, 'images of at least 1x1 pixels', `${rows}x${cols}`);
  }
  const labels = decodeIdx(await readDataFile(labelsFile, ctx.maxFileBytes), labelsFile);
  if (labels.dims.length !== 1) {
    throw new DataFormatError(labelsFile, 3, 'rank 1 for labels', `rank ${labels.dims.length}`);
  }
  if (labels.dims[0] !== count) {
    throw new DataFormatError(
      labelsFile,
      4,
      `${count} labels, one per image of ${imagesFile}`,
      `${labels.dims[0]}`,
    );
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i];
    if (label >= numClasses) {
      throw new DataFormatError(labelsFile, 8 + i, `a label in [0, ${numClasses - 1}]`, String(label));
    }
    out[i] = label;
  }
  return { imageShape: [rows, cols, 1], images: images.data, labels: out };
}

/** Reads an MNIST-layout directory (train-* and t10k-* files, gzipped or not). */
export async function loadIdxDataset(
  ctx: LoadContext,
  dir: string,
  numClasses: number,
): Promise<{ train: LabelledImages; test: LabelledImages }> {
  const train = await loadIdxSplit(ctx, dir, 'train', numClasses);
  const test = await loadIdxSplit(ctx, dir, 't10k', numClasses);
  if (test.imageShape[0] !== train.imageShape[0] || test.imageShape[1] !== train.imageShape[1]) {
    throw new DataFormatError(
      dir,
      undefined,
      `t10k images of the training images' ${train.imageShape.join('x')}`,
      test.imageShape.join('x'),
    );
  }
  return { train, test };
}

export interface WriteIdxOptions {
  /** Write `.gz` files as Debian ships them; default true. */
  gzip?: boolean;
}

/** Writes greyscale images in the MNIST layout: the four train-/t10k- files. */
export async function writeIdxDataset(
  dir: string,
  data: { train: LabelledImages; test: LabelledImages },
  options: WriteIdxOptions = {},
): Promise<string[]> {
  const gzip = options.gzip ?? true;
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [prefix, split] of [
    ['train', data.train],
    ['t10k', data.test],
  ] as const) {
    const [h, w, c] = split.imageShape;
    if (c !== 1)
      throw invalidArgument(`${prefix}.imageShape[2]`, c, '1 channel (IDX holds greyscale images)');
    const n = split.labels.length;
    const labels = new Uint8Array(n);
    split.labels.forEach((l, i) => {
      if (l < 0 || l > 255) throw invalidArgument(`${prefix}.labels[${i}]`, l, 'a label in [0, 255]');
      labels[i] = l;
    });
    for (const [kind, bytes] of [
      ['images', encodeIdx([n, h, w], split.images)],
      ['labels', encodeIdx([n], labels)],
    ] as const) {
      const rank = kind === 'images' ? 3 : 1;
      const file = path.join(dir, `${prefix}-${kind}-idx${rank}-ubyte${gzip ? '.gz' : ''}`);
      await fs.writeFile(file, gzip ? gzipSync(bytes) : bytes);
      written.push(file);
    }
  }
  return written;
}
