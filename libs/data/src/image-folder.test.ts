import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { openDataset } from './dataset';
import { DataFormatError } from './errors';
import { decodeImageFile } from './image-folder';
import { writeSyntheticDataset } from './synthetic';

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-images-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const PER = 16 * 16 * 3;

/** Mean absolute difference of image i of two uint8 image arrays. */
function meanAbsDiff(a: Uint8Array, b: Uint8Array, i: number, per: number): number {
  let d = 0;
  for (let k = i * per; k < (i + 1) * per; k++) d += Math.abs(a[k] - b[k]);
  return d / per;
}

describe('image folders', () => {
  it('read back PNG and WebP exactly and JPEG closely, with labels and class names', async () => {
    const dir = path.join(root, 'mixed');
    const written = await writeSyntheticDataset(dir, {
      format: 'imagefolder',
      train: 30,
      test: 9,
      seed: 4,
      size: 16,
      classes: 3,
    });
    expect((await fs.readdir(dir)).sort()).toEqual(['test', 'train']);
    const ds = await openDataset(`imagefolder:${dir}?size=16`, { dataRoots: [root] });
    expect(ds.name).toBe('mixed');
    expect(ds.classNames).toEqual(['disc', 'ring', 'square']);
    expect(ds.imageShape).toEqual([16, 16, 3]);
    expect([ds.train.size, ds.test.size]).toEqual([30, 9]);
    // The loader orders images by class folder then file name; map each back to what was written.
    for (const [split, original] of [
      [ds.train, written.train],
      [ds.test, written.test],
    ] as const) {
      const files = (
        await Promise.all(
          ds.classNames.map(async (name) =>
            (await fs.readdir(path.join(dir, split === ds.train ? 'train' : 'test', name))).sort(),
          ),
        )
      ).flat();
      files.forEach((file, i) => {
        const k = Number(path.parse(file).name);
        expect(ds.classNames[split.labels[i]]).toBe(written.classNames[original.labels[k]]);
        const diff = meanAbsDiff(split.images.subarray(i * PER), original.images.subarray(k * PER), 0, PER);
        if (file.endsWith('.jpg')) expect(diff).toBeLessThan(4);
        else expect(diff).toBe(0);
      });
    }
  });

  it('reads greyscale, resizes larger images and treats a flat folder as training data only', async () => {
    const dir = path.join(root, 'flat');
    await fs.mkdir(path.join(dir, 'b'), { recursive: true });
    await fs.mkdir(path.join(dir, 'a'), { recursive: true });
    const big = Buffer.alloc(40 * 20 * 3, 200);
    await sharp(big, { raw: { width: 40, height: 20, channels: 3 } })
      .png()
      .toFile(path.join(dir, 'a', 'x.png'));
    await sharp(Buffer.alloc(8 * 8, 10), { raw: { width: 8, height: 8, channels: 1 } })
      .jpeg()
      .toFile(path.join(dir, 'b', 'y.JPEG'));
    await fs.writeFile(path.join(dir, 'b', 'notes.txt'), 'not an image');
    await fs.writeFile(path.join(dir, 'b', '.hidden.png'), 'ignored');
    await fs.mkdir(path.join(dir, '.cache'));
    const ds = await openDataset(`imagefolder:${dir}?size=8x4&channels=1`, { dataRoots: [root] });
    expect(ds.classNames).toEqual(['a', 'b']);
    expect(ds.imageShape).toEqual([8, 4, 1]);
    expect(ds.test.size).toBe(0);
    expect(Array.from(ds.train.labels)).toEqual([0, 1]);
    expect(Array.from(ds.train.images.subarray(0, 32))).toEqual(new Array(32).fill(200));
    expect(Math.abs(ds.train.images[32] - 10)).toBeLessThanOrEqual(1);
  });

  it('names an undecodable and a truncated image file', async () => {
    const dir = path.join(root, 'broken');
    await writeSyntheticDataset(dir, {
      format: 'imagefolder',
      train: 6,
      test: 0,
      seed: 1,
      size: 16,
      classes: 2,
      imageFormats: ['png'],
    });
    const bad = path.join(dir, 'train', 'disc', 'zz-garbage.png');
    await fs.writeFile(bad, 'this is not a PNG');
    const err = await openDataset(`imagefolder:${dir}?size=16`, { dataRoots: [root] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).message).toContain(
      `${bad}: expected a decodable JPEG, PNG or WebP image, got sharp error`,
    );
    const png = await fs.readFile(path.join(dir, 'train', 'square', '000001.png'));
    await fs.writeFile(bad, png.subarray(0, png.length - 30));
    await expect(decodeImageFile(bad, [16, 16, 3])).rejects.toThrow(/zz-garbage.png: expected a decodable/);
  });

  it('refuses empty class folders, folders without classes and unknown test classes', async () => {
    const empty = path.join(root, 'empty-class');
    await writeSyntheticDataset(empty, {
      format: 'imagefolder',
      train: 4,
      test: 0,
      seed: 1,
      size: 8,
      classes: 2,
    });
    await fs.mkdir(path.join(empty, 'train', 'zebra'));
    await fs.writeFile(path.join(empty, 'train', 'zebra', 'readme.txt'), 'no images here');
    await expect(openDataset(`imagefolder:${empty}`, { dataRoots: [root] })).rejects.toThrow(
      /zebra: expected a class folder with at least one .jpg\/.jpeg\/.png\/.webp image, got an empty folder/,
    );
    const none = path.join(root, 'no-classes');
    await fs.mkdir(none);
    await fs.writeFile(path.join(none, 'a.png'), '');
    await expect(openDataset(`imagefolder:${none}`, { dataRoots: [root] })).rejects.toThrow(
      /no-classes: expected one subfolder of images per class, got no class folders/,
    );
    const unknown = path.join(root, 'unknown-test');
    await writeSyntheticDataset(unknown, {
      format: 'imagefolder',
      train: 4,
      test: 2,
      seed: 1,
      size: 8,
      classes: 2,
    });
    await fs.rename(path.join(unknown, 'test', 'square'), path.join(unknown, 'test', 'cube'));
    await expect(openDataset(`imagefolder:${unknown}?size=8`, { dataRoots: [root] })).rejects.toThrow(
      /expected a class of the training folder \(disc, square\), got "cube"/,
    );
  });

  it('refuses a class folder that is a symlink out of the data roots', async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-outside-'));
    try {
      const dir = path.join(root, 'linked');
      await writeSyntheticDataset(dir, {
        format: 'imagefolder',
        train: 4,
        test: 0,
        seed: 1,
        size: 8,
        classes: 2,
      });
      await fs.rename(path.join(dir, 'train', 'disc'), path.join(outside, 'disc'));
      await fs.symlink(path.join(outside, 'disc'), path.join(dir, 'train', 'disc'));
      await expect(openDataset(`imagefolder:${dir}?size=8`, { dataRoots: [root] })).rejects.toThrow(
        /disc \(it resolves to .*rnas-outside-.*\) is outside the data roots/,
      );
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('refuses a folder too large for the memory limit before decoding', async () => {
    const dir = path.join(root, 'limit');
    await writeSyntheticDataset(dir, {
      format: 'imagefolder',
      train: 4,
      test: 0,
      seed: 1,
      size: 8,
      classes: 2,
    });
    await expect(
      openDataset(`imagefolder:${dir}?size=1024`, { dataRoots: [root], maxFileBytes: 10_000_000 }),
    ).rejects.toThrow(/4 images of 1024x1024x3 need 12582912 bytes, more than the limit of 10000000/);
  });
});
