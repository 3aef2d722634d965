import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { DataError } from '../errors';
import { temporaryDataRoot } from '../synthetic';
import { decodeSegmentationSample } from './decode';
import { openSegmentationDataset } from './open';
import { CITYSCAPES_CLASSES, CITYSCAPES_TRAIN_IDS } from './types';

let tmp: string;
let root: string;
let n = 0;
beforeAll(async () => {
  ({ dir: tmp, dataRoot: root } = await temporaryDataRoot('rnas-cityscapes-', {
    train: 1,
    test: 1,
    seed: 1,
  }));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const W = 16;
const H = 8;

/** Label ids by row: road, car, unlabeled, bicycle, licence-plate-free filler (sky). */
function labelIds(): Uint8Array {
  const rows = [7, 26, 0, 33, 23, 9, 24, 11];
  const out = new Uint8Array(W * H);
  rows.forEach((id, y) => out.fill(id, y * W, (y + 1) * W));
  return out;
}

function grey(ids: Uint8Array, width = W, height = H): Promise<Buffer> {
  return sharp(Buffer.from(ids), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

function rgb(width = W, height = H): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#406080' } })
    .png()
    .toBuffer();
}

const image = (split: string, city: string, stem: string): string =>
  `leftImg8bit/${split}/${city}/${stem}_leftImg8bit.png`;
const mask = (split: string, city: string, stem: string): string =>
  `gtFine/${split}/${city}/${stem}_gtFine_labelIds.png`;

/** train: aachen (2 images) and bochum (1); val: lindau (1); `files` replace or (null) remove files. */
async function cityscapes(files: Record<string, Buffer | string | null> = {}): Promise<string> {
  const dir = path.join(root, `cityscapes${n++}`);
  const base: Record<string, Buffer | string | null> = {};
  for (const [split, city, stem] of [
    ['train', 'bochum', 'bochum_000000_000313'],
    ['train', 'aachen', 'aachen_000001_000019'],
    ['train', 'aachen', 'aachen_000000_000019'],
    ['val', 'lindau', 'lindau_000000_000019'],
  ]) {
    base[image(split, city, stem)] = await rgb();
    base[mask(split, city, stem)] = await grey(labelIds());
  }
  Object.assign(base, files);
  for (const [name, content] of Object.entries(base)) {
    if (content === null) continue;
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  return dir;
}

async function failure(uri: string): Promise<DataError> {
  const err = await openSegmentationDataset(uri, { dataRoots: [root] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataError)) throw new Error(`expected a DataError for ${uri}, got ${String(err)}`);
  return err;
}

describe('Cityscapes', () => {
  it('has the official 19 train ids', () => {
    expect(CITYSCAPES_CLASSES).toHaveLength(19);
    expect(CITYSCAPES_TRAIN_IDS).toHaveLength(34);
    const trained = CITYSCAPES_TRAIN_IDS.filter((t) => t !== 255);
    expect(trained).toEqual(Array.from({ length: 19 }, (_, i) => i));
    expect(CITYSCAPES_CLASSES[CITYSCAPES_TRAIN_IDS[26]]).toBe('car');
    expect(CITYSCAPES_CLASSES[CITYSCAPES_TRAIN_IDS[33]]).toBe('bicycle');
  });

  it('lists images by city and name with their label maps, and maps label ids to train ids', async () => {
    const dir = await cityscapes({
      'leftImg8bit/train/aachen/notes.txt': 'x',
      'leftImg8bit/train/README': 'x',
    });
    const ds = await openSegmentationDataset(`cityscapes:${dir}`, { dataRoots: [root] });
    expect(ds).toMatchObject({
      format: 'cityscapes',
      name: path.basename(dir),
      classNames: CITYSCAPES_CLASSES,
    });
    expect(ds.train.map((i) => i.id)).toEqual([
      'aachen/aachen_000000_000019',
      'aachen/aachen_000001_000019',
      'bochum/bochum_000000_000313',
    ]);
    expect(ds.test[0]).toEqual({
      id: 'lindau/lindau_000000_000019',
      file: path.join(dir, image('val', 'lindau', 'lindau_000000_000019')),
      maskFile: path.join(dir, mask('val', 'lindau', 'lindau_000000_000019')),
      width: W,
      height: H,
    });
    const sample = await decodeSegmentationSample(ds.test[0], ds);
    expect(sample.pixels).toHaveLength(W * H * 3);
    expect(Array.from(sample.pixels.subarray(0, 3))).toEqual([0x40, 0x60, 0x80]);
    const rows = Array.from({ length: H }, (_, y) => sample.mask[y * W]);
    // road, car, unlabeled, bicycle, sky, parking, person, building
    expect(rows).toEqual([0, 13, 255, 18, 10, 255, 11, 2]);
    expect(sample.mask.subarray(W, 2 * W).every((v) => v === 13)).toBe(true);
  });

  it('answers NOT_FOUND for a missing label map or split folder', async () => {
    const noMask = await failure(
      `cityscapes:${await cityscapes({ [mask('train', 'bochum', 'bochum_000000_000313')]: null })}`,
    );
    expect(noMask.code).toBe('NOT_FOUND');
    expect(noMask.message).toMatch(
      /bochum_000000_000313_leftImg8bit\.png \(its label map\): expected the image .*gtFine\/train\/bochum\/bochum_000000_000313_gtFine_labelIds\.png to exist, got no such file/,
    );
    const noSplit = await failure(`cityscapes:${await cityscapes()}?test=test`);
    expect(noSplit.code).toBe('NOT_FOUND');
    expect(noSplit.message).toMatch(/expected a folder leftImg8bit\/test, got none/);
    const dir = await cityscapes();
    await fs.rm(path.join(dir, 'gtFine', 'val'), { recursive: true });
    expect((await failure(`cityscapes:${dir}`)).message).toMatch(/expected a folder gtFine\/val, got none/);
  });

  it('refuses an empty split, a mask of another size and hostile split names', async () => {
    const dir = await cityscapes();
    await fs.rm(path.join(dir, 'leftImg8bit', 'val', 'lindau'), { recursive: true });
    const empty = await failure(`cityscapes:${dir}`);
    expect(empty.code).toBe('FAILED_PRECONDITION');
    expect(empty.message).toMatch(
      /leftImg8bit\/val: expected at least one <city>\/<name>_leftImg8bit\.png, got none/,
    );
    const sized = await failure(
      `cityscapes:${await cityscapes({ [mask('val', 'lindau', 'lindau_000000_000019')]: await grey(new Uint8Array(W * 4), W, 4) })}`,
    );
    expect(sized.message).toMatch(
      /lindau_000000_000019_gtFine_labelIds\.png \(image "lindau\/lindau_000000_000019"\): expected the 16x8 \(width x height\) of its image .*, got 16x4/,
    );
    const hostile = await failure(`cityscapes:${dir}?train=..`);
    expect(hostile.code).toBe('INVALID_ARGUMENT');
    expect(hostile.message).toMatch(
      /query parameter train: expected an image-set name .*leftImg8bit\/<name>/,
    );
    expect((await failure(`cityscapes:${dir}?test=a/b`)).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses label ids above 33 and colour label maps when decoding, naming the pixel', async () => {
    const ids = labelIds();
    ids[3 * W + 5] = 34;
    const dir = await cityscapes({ [mask('val', 'lindau', 'lindau_000000_000019')]: await grey(ids) });
    const ds = await openSegmentationDataset(`cityscapes:${dir}`, { dataRoots: [root] });
    await expect(decodeSegmentationSample(ds.test[0], ds)).rejects.toThrow(
      /lindau_000000_000019_gtFine_labelIds\.png \(image "lindau\/lindau_000000_000019"\) pixel x=5, y=3: expected a Cityscapes label id in \[0, 33\], got 34/,
    );
    const deep = await cityscapes({
      [mask('val', 'lindau', 'lindau_000000_000019')]: await sharp(Buffer.from(labelIds()), {
        raw: { width: W, height: H, channels: 1 },
      })
        .toColourspace('grey16')
        .png()
        .toBuffer(),
    });
    const dds = await openSegmentationDataset(`cityscapes:${deep}`, { dataRoots: [root] });
    await expect(decodeSegmentationSample(dds.test[0], dds)).rejects.toThrow(
      /gtFine_labelIds\.png: expected an 8-bit greyscale label-id PNG, got 1 channels of ushort/,
    );
    const colour = await cityscapes({ [mask('val', 'lindau', 'lindau_000000_000019')]: await rgb() });
    const cds = await openSegmentationDataset(`cityscapes:${colour}`, { dataRoots: [root] });
    await expect(decodeSegmentationSample(cds.test[0], cds)).rejects.toThrow(
      /gtFine_labelIds\.png: expected an 8-bit greyscale label-id PNG, got 3 channels of uchar/,
    );
  });
});
