import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { openDataset } from './dataset';
import { DataError, DataFormatError } from './errors';
import { decodeIdx, encodeIdx, MNIST_CLASSES } from './idx';
import { writeSyntheticDataset } from './synthetic';

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-idx-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function header(type: number, dims: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d, false));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('decodeIdx / encodeIdx', () => {
  it('round-trips dimensions and bytes, big-endian', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 7) % 256);
    const bytes = encodeIdx([2, 3, 4], data);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0, 0, 8, 3, 0, 0, 0, 2]);
    const decoded = decodeIdx(bytes, 'x');
    expect(decoded.dims).toEqual([2, 3, 4]);
    expect(Array.from(decoded.data)).toEqual(Array.from(data));
  });

  it.each([
    [
      'an empty file',
      new Uint8Array(0),
      /x at offset 0: expected a 4-byte IDX magic number, got a file of 0 bytes/,
    ],
    [
      'a wrong magic number',
      Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0]),
      /offset 0: expected an IDX magic.*got 0x504b0304/,
    ],
    [
      'float data',
      header(0x0d, [1]),
      /offset 2: expected IDX data type 0x08 \(unsigned byte\), got 0x0d \(float32\)/,
    ],
    ['rank 0', Uint8Array.from([0, 0, 8, 0]), /offset 3: expected an IDX rank in \[1, 4\], got 0/],
    [
      'a cut header',
      header(8, [5, 28, 28]).subarray(0, 10),
      /offset 10: expected a 16-byte header for rank 3/,
    ],
    [
      'missing data',
      concat(header(8, [3, 2, 2]), new Uint8Array(11)),
      /offset 16: expected 12 data bytes for dimensions 3x2x2, got only 11 \(truncated\)/,
    ],
    [
      'trailing bytes',
      concat(header(8, [2]), new Uint8Array(3)),
      /expected 2 data bytes.*got 3 \(1 trailing bytes\)/,
    ],
  ])('refuses %s naming file, offset and expectation', (_name, bytes, message) => {
    expect(() => decodeIdx(bytes, 'x')).toThrow(DataFormatError);
    expect(() => decodeIdx(bytes, 'x')).toThrow(message);
  });

  it('fails at once, allocating nothing, on a header claiming 2^31 images', () => {
    const bytes = concat(header(8, [2 ** 31, 28, 28]), new Uint8Array(100));
    const before = process.memoryUsage().arrayBuffers;
    const started = Date.now();
    expect(() => decodeIdx(bytes, 'huge')).toThrow(
      /expected 1683627180032 data bytes for dimensions 2147483648x28x28/,
    );
    expect(Date.now() - started).toBeLessThan(50);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
  });
});

describe('IDX datasets (MNIST layout)', () => {
  it.each([
    ['gzipped', 'idx'],
    ['raw', 'idx-raw'],
  ] as const)('reads back exactly the pixels and labels written (%s)', async (_name, format) => {
    const dir = path.join(root, format);
    const written = await writeSyntheticDataset(dir, { format, train: 50, test: 20, seed: 3 });
    const files = (await fs.readdir(dir)).sort();
    expect(files).toEqual(
      [
        't10k-images-idx3-ubyte',
        't10k-labels-idx1-ubyte',
        'train-images-idx3-ubyte',
        'train-labels-idx1-ubyte',
      ].map((f) => (format === 'idx' ? `${f}.gz` : f)),
    );
    const ds = await openDataset(`mnist:${dir}`, { dataRoots: [root] });
    expect(ds.name).toBe('mnist');
    expect(ds.classNames).toEqual(MNIST_CLASSES);
    expect(ds.imageShape).toEqual([28, 28, 1]);
    expect(ds.train.size).toBe(50);
    expect(ds.test.size).toBe(20);
    expect(Buffer.from(ds.train.images).equals(Buffer.from(written.train.images))).toBe(true);
    expect(Array.from(ds.train.labels)).toEqual(Array.from(written.train.labels));
    expect(Buffer.from(ds.test.images).equals(Buffer.from(written.test.images))).toBe(true);
    expect(Array.from(ds.test.labels)).toEqual(Array.from(written.test.labels));
  });

  async function brokenCopy(name: string, file: string, bytes: Uint8Array): Promise<string> {
    const dir = path.join(root, name);
    await writeSyntheticDataset(dir, { format: 'idx', train: 12, test: 4, seed: 1 });
    await fs.writeFile(path.join(dir, file), bytes);
    return dir;
  }

  it('names the labels file and offset of a label out of range', async () => {
    const labels = encodeIdx(
      [12],
      Uint8Array.from({ length: 12 }, (_, i) => (i === 7 ? 10 : i % 10)),
    );
    const dir = await brokenCopy('bad-label', 'train-labels-idx1-ubyte.gz', gzipSync(labels));
    const err = await openDataset(`fashion-mnist:${dir}`, { dataRoots: [root] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as DataFormatError).file).toBe(path.join(dir, 'train-labels-idx1-ubyte.gz'));
    expect((err as Error).message).toMatch(
      /train-labels-idx1-ubyte.gz at offset 15: expected a label in \[0, 9\], got 10/,
    );
    expect((err as DataError).code).toBe('FAILED_PRECONDITION');
  });

  it('refuses a label count that differs from the image count', async () => {
    const dir = await brokenCopy(
      'count',
      'train-labels-idx1-ubyte.gz',
      gzipSync(encodeIdx([11], new Uint8Array(11))),
    );
    await expect(openDataset(`mnist:${dir}`, { dataRoots: [root] })).rejects.toThrow(
      /train-labels-idx1-ubyte.gz at offset 4: expected 12 labels, one per image of .*train-images-idx3-ubyte.gz, got 11/,
    );
  });

  it('refuses images of the wrong rank and test images of another size', async () => {
    const flat = await brokenCopy(
      'rank',
      'train-images-idx3-ubyte.gz',
      gzipSync(encodeIdx([12, 784], new Uint8Array(12 * 784))),
    );
    await expect(openDataset(`mnist:${flat}`, { dataRoots: [root] })).rejects.toThrow(
      /offset 3: expected rank 3/,
    );
    const odd = await brokenCopy(
      'size',
      't10k-images-idx3-ubyte.gz',
      gzipSync(encodeIdx([4, 27, 28], new Uint8Array(4 * 27 * 28))),
    );
    await expect(openDataset(`mnist:${odd}`, { dataRoots: [root] })).rejects.toThrow(
      /expected t10k images of the training images' 28x28x1, got 27x28x1/,
    );
  });

  it('refuses a header claiming 2^31 images in a gzipped file without allocating for it', async () => {
    const dir = await brokenCopy(
      'huge',
      'train-images-idx3-ubyte.gz',
      gzipSync(concat(header(8, [2 ** 31, 28, 28]), new Uint8Array(64))),
    );
    await expect(openDataset(`mnist:${dir}`, { dataRoots: [root] })).rejects.toThrow(
      /train-images-idx3-ubyte.gz at offset 16: expected 1683627180032 data bytes.*got only 64 \(truncated\)/,
    );
  });

  it('refuses corrupt and truncated gzip, and a .gz file that is not gzip', async () => {
    const good = gzipSync(encodeIdx([12], new Uint8Array(12)));
    const truncated = await brokenCopy(
      'gz-cut',
      'train-labels-idx1-ubyte.gz',
      good.subarray(0, good.length - 6),
    );
    await expect(openDataset(`mnist:${truncated}`, { dataRoots: [root] })).rejects.toThrow(
      /train-labels-idx1-ubyte.gz: expected a complete, valid gzip stream, got zlib error "unexpected end of file"/,
    );
    const flipped = Uint8Array.from(good);
    flipped[flipped.length - 5] ^= 0xff; // the stored length
    const corrupt = await brokenCopy('gz-bad', 'train-labels-idx1-ubyte.gz', flipped);
    await expect(openDataset(`mnist:${corrupt}`, { dataRoots: [root] })).rejects.toThrow(
      /valid gzip stream, got zlib error/,
    );
    const plain = await brokenCopy(
      'gz-plain',
      'train-labels-idx1-ubyte.gz',
      encodeIdx([12], new Uint8Array(12)),
    );
    await expect(openDataset(`mnist:${plain}`, { dataRoots: [root] })).rejects.toThrow(
      /offset 0: expected the gzip magic number 0x1f8b, got 0x0000/,
    );
  });

  it('stops a decompression bomb at the size limit', async () => {
    const dir = await brokenCopy(
      'bomb',
      'train-labels-idx1-ubyte.gz',
      gzipSync(new Uint8Array(8 * 1024 * 1024)),
    );
    const err = await openDataset(`mnist:${dir}`, { dataRoots: [root], maxFileBytes: 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect((err as DataError).code).toBe('RESOURCE_EXHAUSTED');
    expect((err as Error).message).toMatch(
      /train-labels-idx1-ubyte.gz: decompresses to more than the 1.0 MiB/,
    );
  });

  it('refuses an uncompressed file over the size limit before reading it', async () => {
    const dir = path.join(root, 'big-raw');
    await writeSyntheticDataset(dir, { format: 'idx-raw', train: 40, test: 2, seed: 1 });
    const err = await openDataset(`mnist:${dir}`, { dataRoots: [root], maxFileBytes: 20000 }).catch(
      (e: unknown) => e,
    );
    expect((err as DataError).code).toBe('RESOURCE_EXHAUSTED');
    expect((err as Error).message).toMatch(
      /train-images-idx3-ubyte: 31376 bytes is more than the 20000 bytes a dataset file may have/,
    );
  });

  it('names the directory and the files expected when one is missing', async () => {
    const dir = path.join(root, 'missing');
    await writeSyntheticDataset(dir, { format: 'idx', train: 4, test: 2, seed: 1 });
    await fs.rm(path.join(dir, 't10k-labels-idx1-ubyte.gz'));
    const err = await openDataset(`mnist:${dir}`, { dataRoots: [root] }).catch((e: unknown) => e);
    expect((err as DataError).code).toBe('NOT_FOUND');
    expect((err as Error).message).toMatch(
      /missing has none of t10k-labels-idx1-ubyte.gz, t10k-labels-idx1-ubyte, t10k-labels.idx1-ubyte/,
    );
  });

  it('refuses an empty training split', async () => {
    const dir = path.join(root, 'empty');
    await writeSyntheticDataset(dir, { format: 'idx-raw', train: 1, test: 1, seed: 1 });
    await fs.writeFile(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx([0, 28, 28], new Uint8Array(0)));
    await fs.writeFile(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx([0], new Uint8Array(0)));
    await expect(openDataset(`mnist:${dir}`, { dataRoots: [root] })).rejects.toThrow(
      /the training split has no images/,
    );
  });
});
