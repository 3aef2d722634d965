import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeCifar, decodeNames, encodeCifar, writeCifar10 } from './cifar';
import { openDataset } from './dataset';
import { DataError, DataFormatError } from './errors';
import { generateShapes, writeSyntheticDataset } from './synthetic';

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-cifar-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('CIFAR binary records', () => {
  it('store label bytes then the red, green and blue planes', () => {
    const images = new Uint8Array(2 * 3072);
    images[0] = 11; // image 0, pixel (0,0), red
    images[1] = 22; // green
    images[2] = 33; // blue
    images[3072 + 3 * 33 + 2] = 44; // image 1, pixel (1,1), blue
    const bytes = encodeCifar(images, [Int32Array.from([3, 9])]);
    expect(bytes.length).toBe(2 * 3073);
    expect([bytes[0], bytes[1], bytes[1 + 1024], bytes[1 + 2048]]).toEqual([3, 11, 22, 33]);
    expect([bytes[3073], bytes[3073 + 1 + 2048 + 33]]).toEqual([9, 44]);
    const back = decodeCifar(bytes, 'f', { labelBytes: 1, classes: [10] });
    expect(same(back.images, images)).toBe(true);
    expect(Array.from(back.labels[0])).toEqual([3, 9]);
  });

  it.each([
    ['an empty file', new Uint8Array(0), /f at offset 0: expected records of 3073 bytes, got an empty file/],
    [
      'a truncated record',
      new Uint8Array(3073 * 2 + 100),
      /f at offset 6146: expected a whole record of 3073 bytes .*got 100 bytes \(truncated or not a CIFAR file\)/,
    ],
    [
      'a label out of range',
      Uint8Array.from({ length: 3073 * 3 }, (_, i) => (i === 3073 * 2 ? 10 : 0)),
      /f at offset 6146: expected a label in \[0, 9\], got 10/,
    ],
  ])('refuse %s', (_name, bytes, message) => {
    expect(() => decodeCifar(bytes, 'f', { labelBytes: 1, classes: [10] })).toThrow(DataFormatError);
    expect(() => decodeCifar(bytes, 'f', { labelBytes: 1, classes: [10] })).toThrow(message);
  });

  it('check both CIFAR-100 labels', () => {
    const bytes = new Uint8Array(3074 * 2);
    bytes[3074] = 20; // coarse label of record 1
    expect(() => decodeCifar(bytes, 'f', { labelBytes: 2, classes: [20, 100] })).toThrow(
      /offset 3074: expected a label in \[0, 19\], got 20/,
    );
    bytes[3074] = 19;
    bytes[3075] = 100;
    expect(() => decodeCifar(bytes, 'f', { labelBytes: 2, classes: [20, 100] })).toThrow(
      /offset 3075: expected a label in \[0, 99\], got 100/,
    );
  });

  it('read names files with trailing blank lines and CRLF, and refuse gaps or wrong counts', () => {
    expect(decodeNames(Buffer.from('a\r\nb\r\n\r\n\n'), 'n', 2)).toEqual(['a', 'b']);
    expect(() => decodeNames(Buffer.from('a\n\nb\n'), 'n', 2)).toThrow(
      /n: expected a class name on line 2, got a blank line/,
    );
    expect(() => decodeNames(Buffer.from('a\nb\nc\n'), 'n', 2)).toThrow(
      /n: expected 2 class names, one per line, got 3/,
    );
  });
});

describe('CIFAR datasets', () => {
  it('read back exactly the CIFAR-10 pixels, labels and class names written', async () => {
    const dir = path.join(root, 'c10');
    const written = await writeSyntheticDataset(dir, { format: 'cifar10', train: 23, test: 7, seed: 5 });
    expect((await fs.readdir(dir)).sort()).toEqual([
      'batches.meta.txt',
      'data_batch_1.bin',
      'data_batch_2.bin',
      'data_batch_3.bin',
      'data_batch_4.bin',
      'data_batch_5.bin',
      'test_batch.bin',
    ]);
    const ds = await openDataset(`cifar10:${dir}`, { dataRoots: [root] });
    expect(ds.imageShape).toEqual([32, 32, 3]);
    expect(ds.classNames).toEqual(written.classNames);
    expect([ds.train.size, ds.test.size]).toEqual([23, 7]);
    expect(same(ds.train.images, written.train.images)).toBe(true);
    expect(same(ds.test.images, written.test.images)).toBe(true);
    expect(Array.from(ds.train.labels)).toEqual(Array.from(written.train.labels));
    expect(Array.from(ds.test.labels)).toEqual(Array.from(written.test.labels));
  });

  it('read CIFAR-100 fine and coarse labels, by default the fine ones', async () => {
    const parent = path.join(root, 'c100');
    // The folder the official archive unpacks to is found inside the given one.
    const written = await writeSyntheticDataset(path.join(parent, 'cifar-100-binary'), {
      format: 'cifar100',
      train: 40,
      test: 10,
      seed: 2,
    });
    const fine = await openDataset(`cifar100:${parent}`, { dataRoots: [root] });
    expect(fine.classNames).toHaveLength(100);
    expect(fine.coarseClassNames).toHaveLength(20);
    expect(fine.train.numClasses).toBe(100);
    expect(same(fine.train.images, written.train.images)).toBe(true);
    expect(Array.from(fine.train.labels)).toEqual(Array.from(written.train.labels));
    expect(Array.from(fine.test.coarseLabels ?? [])).toEqual(Array.from(written.test.coarseLabels ?? []));
    const coarse = await openDataset(`cifar100:${parent}?label=coarse`, { dataRoots: [root] });
    expect(coarse.name).toBe('cifar100-coarse');
    expect(coarse.classNames).toEqual(fine.coarseClassNames);
    expect(Array.from(coarse.train.labels)).toEqual(Array.from(written.train.coarseLabels ?? []));
  });

  it('name the file of a truncated batch and of a missing one', async () => {
    const dir = path.join(root, 'c10-bad');
    await writeSyntheticDataset(dir, { format: 'cifar10', train: 10, test: 2, seed: 1 });
    const file = path.join(dir, 'data_batch_3.bin');
    const bytes = await fs.readFile(file);
    await fs.writeFile(file, bytes.subarray(0, bytes.length - 1));
    await expect(openDataset(`cifar10:${dir}`, { dataRoots: [root] })).rejects.toThrow(
      /data_batch_3.bin at offset 3073: expected a whole record of 3073 bytes .*got 3072 bytes/,
    );
    await fs.rm(file);
    const err = await openDataset(`cifar10:${dir}`, { dataRoots: [root] }).catch((e: unknown) => e);
    expect((err as DataError).code).toBe('NOT_FOUND');
    expect((err as Error).message).toMatch(/c10-bad has none of data_batch_3.bin/);
  });

  it('name a dangling symlink', async () => {
    const dir = path.join(root, 'c10-dangling');
    await writeSyntheticDataset(dir, { format: 'cifar10', train: 5, test: 1, seed: 1 });
    await fs.rm(path.join(dir, 'test_batch.bin'));
    await fs.symlink(path.join(dir, 'gone.bin'), path.join(dir, 'test_batch.bin'));
    const err = await openDataset(`cifar10:${dir}`, { dataRoots: [root] }).catch((e: unknown) => e);
    expect((err as DataError).code).toBe('NOT_FOUND');
    expect((err as Error).message).toMatch(/test_batch.bin is a dangling symlink/);
  });

  it('refuse a names file with the wrong number of classes', async () => {
    const dir = path.join(root, 'c10-names');
    await writeSyntheticDataset(dir, { format: 'cifar10', train: 5, test: 1, seed: 1 });
    await fs.writeFile(path.join(dir, 'batches.meta.txt'), 'cat\ndog\n');
    await expect(openDataset(`cifar10:${dir}`, { dataRoots: [root] })).rejects.toThrow(
      /batches.meta.txt: expected 10 class names, one per line, got 2/,
    );
  });

  it('refuse a data file that is a symlink out of the data roots', async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-outside-'));
    try {
      const dir = path.join(root, 'c10-link');
      await writeSyntheticDataset(dir, { format: 'cifar10', train: 5, test: 1, seed: 1 });
      await fs.rename(path.join(dir, 'test_batch.bin'), path.join(outside, 'test_batch.bin'));
      await fs.symlink(path.join(outside, 'test_batch.bin'), path.join(dir, 'test_batch.bin'));
      await expect(openDataset(`cifar10:${dir}`, { dataRoots: [root] })).rejects.toThrow(
        /test_batch.bin \(it resolves to .*rnas-outside-.*\) is outside the data roots/,
      );
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('refuse to write images that are not 32x32x3', async () => {
    const data = generateShapes({ classes: 10, size: 9, channels: 3, train: 2, test: 0, seed: 1 });
    await expect(writeCifar10(path.join(root, 'y'), data)).rejects.toThrow(
      /train.imageShape: expected 32x32x3 \(the CIFAR formats have no header\), got "9x9x3"/,
    );
  });
});
