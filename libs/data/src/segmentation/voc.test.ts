import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { DataError } from '../errors';
import { temporaryDataRoot } from '../synthetic';
import { decodeSegmentationSample } from './decode';
import { openSegmentationDataset } from './open';
import { encodeLabelPng, vocPalette } from './png';
import { VOC_SEG_CLASSES } from './types';

let tmp: string;
let root: string;
let n = 0;
beforeAll(async () => {
  ({ dir: tmp, dataRoot: root } = await temporaryDataRoot('rnas-vocseg-', { train: 1, test: 1, seed: 1 }));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const W = 20;
const H = 10;

/** Labels of a 20x10 map: background left, `right` on the right half, a border column of 255 between. */
function labels(right: number): Uint8Array {
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) out[y * W + x] = x < 9 ? 0 : x === 9 ? 255 : right;
  }
  return out;
}

/** A VOC segmentation folder: ids a (train, person) and b (val, cat); `files` replace or (null) remove files. */
async function vocFolder(files: Record<string, string | Buffer | null> = {}): Promise<string> {
  const dir = path.join(root, `vocseg${n++}`);
  const base: Record<string, string | Buffer | null> = {
    'ImageSets/Segmentation/train.txt': 'a\n',
    'ImageSets/Segmentation/val.txt': 'b\n',
    'SegmentationClass/a.png': encodeLabelPng(labels(15), W, H),
    'SegmentationClass/b.png': encodeLabelPng(labels(8), W, H),
    'JPEGImages/a.jpg': await sharp({ create: { width: W, height: H, channels: 3, background: '#804020' } })
      .jpeg()
      .toBuffer(),
    'JPEGImages/b.jpg': await sharp({ create: { width: W, height: H, channels: 3, background: '#208040' } })
      .jpeg()
      .toBuffer(),
    ...files,
  };
  for (const [name, content] of Object.entries(base)) {
    if (content === null) continue;
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  return dir;
}

async function failure(uri: string, options: { maxFileBytes?: number } = {}): Promise<DataError> {
  const err = await openSegmentationDataset(uri, { dataRoots: [root], ...options }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataError)) throw new Error(`expected a DataError for ${uri}, got ${String(err)}`);
  return err;
}

async function decodeFailure(dir: string, query = ''): Promise<DataError> {
  const ds = await openSegmentationDataset(`voc-seg:${dir}${query}`, { dataRoots: [root] });
  const err = await decodeSegmentationSample(ds.train[0], ds).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataError)) throw new Error(`expected a DataError, got ${String(err)}`);
  return err;
}

/** An RGB PNG of the 20x10 map's colours with one pixel (x=3, y=2) set to `colour`. */
async function rgbMask(colour: [number, number, number]): Promise<Buffer> {
  const palette = vocPalette();
  const rgb = Buffer.alloc(W * H * 3);
  labels(15).forEach((v, p) => rgb.set(palette[v], p * 3));
  rgb.set(colour, (2 * W + 3) * 3);
  return sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
}

describe('VOC segmentation', () => {
  it('lists both splits with their files and sizes, and decodes palette masks to class indices', async () => {
    const dir = await vocFolder();
    const ds = await openSegmentationDataset(`voc-seg:${dir}?train=train&test=val`, { dataRoots: [root] });
    expect(ds).toMatchObject({ format: 'voc-seg', name: path.basename(dir), classNames: VOC_SEG_CLASSES });
    expect(ds.classNames).toHaveLength(21);
    expect(ds.train).toEqual([
      {
        id: 'a',
        file: path.join(dir, 'JPEGImages', 'a.jpg'),
        maskFile: path.join(dir, 'SegmentationClass', 'a.png'),
        width: W,
        height: H,
      },
    ]);
    expect(ds.test.map((i) => i.id)).toEqual(['b']);
    const a = await decodeSegmentationSample(ds.train[0], ds);
    expect(a.width).toBe(W);
    expect(a.height).toBe(H);
    expect(a.pixels).toHaveLength(W * H * 3);
    expect(Math.abs(a.pixels[0] - 0x80)).toBeLessThanOrEqual(2);
    expect(a.mask).toEqual(labels(15));
    expect((await decodeSegmentationSample(ds.test[0], ds)).mask).toEqual(labels(8));
  });

  it('reads RGB label maps in the palette colours, labels.txt classes and shared ids once', async () => {
    const dir = await vocFolder({
      'labels.txt': 'background, shape\n',
      'SegmentationClass/a.png': await rgbMask([0, 0, 0]),
      'SegmentationClass/b.png': encodeLabelPng(labels(1), W, H),
      'ImageSets/Segmentation/trainval.txt': 'a\nb\n',
    });
    const ds = await openSegmentationDataset(`voc-seg:${dir}?train=trainval&test=val`, { dataRoots: [root] });
    expect(ds.classNames).toEqual(['background', 'shape']);
    expect(ds.train.map((i) => i.id)).toEqual(['a', 'b']);
    expect(ds.test[0]).toBe(ds.train[1]);
    expect((await decodeSegmentationSample(ds.train[1], ds)).mask).toEqual(labels(1));
    // a.png colours class 15 (person) on its right half: outside this dataset's two classes.
    const err = await decodeSegmentationSample(ds.train[0], ds).then(
      () => undefined,
      (e: unknown) => e as DataError,
    );
    expect(err?.message).toMatch(
      /a\.png \(image "a"\) pixel x=10, y=0: expected a class index in \[0, 2\) or 255 \(ignore\), got 15 \(colour rgb\(192, 128, 128\)\)/,
    );
  });

  it.each([
    [
      'an empty split',
      { 'ImageSets/Segmentation/train.txt': '\n \n' },
      /train\.txt: expected at least one image id, got an empty list/,
    ],
    [
      'a traversal id',
      { 'ImageSets/Segmentation/train.txt': 'a\n../x\n' },
      /train\.txt line 2: expected an image id .*, got "\.\.\/x"/,
    ],
    [
      'an absolute id',
      { 'ImageSets/Segmentation/val.txt': '/etc/passwd' },
      /val\.txt line 1: expected an image id/,
    ],
    [
      'an id listed twice',
      { 'ImageSets/Segmentation/val.txt': 'b\nb\n' },
      /val\.txt line 2: expected an id not listed before/,
    ],
    [
      'a split that is not UTF-8',
      { 'ImageSets/Segmentation/train.txt': Buffer.from([0xff, 0xfe, 0x61]) },
      /train\.txt: expected UTF-8 text/,
    ],
    [
      '256 classes',
      { 'labels.txt': Array.from({ length: 256 }, (_, i) => `c${i}`).join(',') },
      /labels\.txt: expected at most 255 class names \(255 is the ignore label\), got 256/,
    ],
    [
      'a mask of another size',
      { 'SegmentationClass/a.png': encodeLabelPng(new Uint8Array(21 * 10), 21, 10) },
      /a\.png \(image "a"\): expected the 20x10 \(width x height\) of its image .*a\.jpg, got 21x10/,
    ],
    [
      'a mask that is not an image',
      { 'SegmentationClass/a.png': 'not a png' },
      /a\.png: expected an image file, got sharp error/,
    ],
    [
      'an image that is not an image',
      { 'JPEGImages/b.jpg': Buffer.alloc(0) },
      /b\.jpg: expected an image file, got sharp error/,
    ],
  ])('refuses %s, naming the file', async (_name, files, message) => {
    const err = await failure(`voc-seg:${await vocFolder(files as Record<string, string>)}`);
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toMatch(message as RegExp);
  });

  it('refuses a lossy (JPEG) label map', async () => {
    const jpeg = await sharp({ create: { width: W, height: H, channels: 3, background: '#000000' } })
      .jpeg()
      .toBuffer();
    const err = await failure(`voc-seg:${await vocFolder({ 'SegmentationClass/b.png': jpeg })}`);
    expect(err.message).toMatch(/b\.png \(image "b"\): expected a PNG label map, got jpeg/);
  });

  it('answers NOT_FOUND for missing masks, images, folders and splits', async () => {
    const noMask = await failure(`voc-seg:${await vocFolder({ 'SegmentationClass/b.png': null })}`);
    expect(noMask.code).toBe('NOT_FOUND');
    expect(noMask.message).toMatch(
      /val\.txt line 1: expected the image .*SegmentationClass\/b\.png to exist, got no such file/,
    );
    const noImage = await failure(`voc-seg:${await vocFolder({ 'JPEGImages/a.jpg': null })}`);
    expect(noImage.message).toMatch(/train\.txt line 1: expected the image .*JPEGImages\/a\.jpg to exist/);
    const dir = await vocFolder();
    await fs.rm(path.join(dir, 'SegmentationClass'), { recursive: true });
    const noFolder = await failure(`voc-seg:${dir}`);
    expect(noFolder.code).toBe('NOT_FOUND');
    expect(noFolder.message).toMatch(/expected a folder SegmentationClass, got none/);
    const noSplit = await failure(`voc-seg:${await vocFolder()}?test=test`);
    expect(noSplit.code).toBe('NOT_FOUND');
    expect(noSplit.message).toMatch(/ImageSets\/Segmentation has none of test\.txt/);
  });

  it('refuses hostile URIs and symlinks out of the data roots, and other schemes', async () => {
    const dir = await vocFolder();
    const split = await failure(`voc-seg:${dir}?train=../../x`);
    expect(split.code).toBe('INVALID_ARGUMENT');
    expect(split.message).toMatch(
      /query parameter train: expected an image-set name .*ImageSets\/Segmentation\/<name>\.txt/,
    );
    expect((await failure(`voc-seg:${dir}?size=3`)).message).toMatch(/unknown query parameter "size"/);
    expect((await failure(`voc:${dir}`)).message).toMatch(
      /expected a segmentation dataset \(voc-seg: or cityscapes:\), got a voc: dataset/,
    );
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-vocseg-outside-'));
    try {
      expect((await failure(`voc-seg:${outside}`)).message).toMatch(/outside the data roots/);
      await fs.writeFile(path.join(outside, 'secret.png'), encodeLabelPng(labels(1), W, H));
      await fs.rm(path.join(dir, 'SegmentationClass', 'a.png'));
      await fs.symlink(path.join(outside, 'secret.png'), path.join(dir, 'SegmentationClass', 'a.png'));
      const err = await failure(`voc-seg:${dir}`);
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(/a\.png \(it resolves to .*secret\.png\) is outside the data roots/);
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('refuses files over maxFileBytes before decoding them', async () => {
    const dir = await vocFolder();
    const jpegBytes = (await fs.stat(path.join(dir, 'JPEGImages', 'a.jpg'))).size;
    const maskBytes = (await fs.stat(path.join(dir, 'SegmentationClass', 'a.png'))).size;
    const limit = Math.min(jpegBytes, maskBytes) - 1;
    const err = await failure(`voc-seg:${dir}`, { maxFileBytes: limit });
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toMatch(
      new RegExp(`a\\.jpg: expected at most ${limit} bytes .*, got ${jpegBytes} bytes`),
    );
    const mask = await failure(`voc-seg:${dir}`, { maxFileBytes: maskBytes - 1 });
    expect(mask.message).toMatch(new RegExp(`a\\.png: expected at most ${maskBytes - 1} bytes`));
    // A split file over the limit stops before it is read.
    const big = await vocFolder({ 'ImageSets/Segmentation/train.txt': `a\n${' '.repeat(4096)}` });
    expect((await failure(`voc-seg:${big}`, { maxFileBytes: 2048 })).code).toBe('RESOURCE_EXHAUSTED');
  });

  it('names the pixel and colour of a colour outside the palette when decoding', async () => {
    const dir = await vocFolder({ 'SegmentationClass/a.png': await rgbMask([1, 2, 3]) });
    const err = await decodeFailure(dir);
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toMatch(
      /a\.png \(image "a"\) pixel x=3, y=2: expected a colour of VOC's palette, got rgb\(1, 2, 3\)/,
    );
  });

  it('refuses a truncated mask or image, and a mask replaced by one of another size, when decoding', async () => {
    const png = encodeLabelPng(labels(15), W, H);
    // The header (and so its size) is intact; the pixel data is cut short.
    const truncated = await decodeFailure(
      await vocFolder({ 'SegmentationClass/a.png': png.subarray(0, png.length - 30) }),
    );
    expect(truncated.message).toMatch(/a\.png: expected a decodable PNG label map, got sharp error/);
    const jpeg = await fs.readFile(path.join(await vocFolder(), 'JPEGImages', 'a.jpg'));
    // Cut in the entropy-coded data: the header still reads, the pixels do not.
    const cut = await decodeFailure(
      await vocFolder({ 'JPEGImages/a.jpg': jpeg.subarray(0, jpeg.length - 2) }),
    );
    expect(cut.message).toMatch(/a\.jpg: expected a decodable image, got sharp error/);
    // Cut in the header: refused when opened.
    const header = await failure(`voc-seg:${await vocFolder({ 'JPEGImages/a.jpg': jpeg.subarray(0, 100) })}`);
    expect(header.message).toMatch(/a\.jpg: expected an image file, got sharp error/);
    const dir = await vocFolder();
    const ds = await openSegmentationDataset(`voc-seg:${dir}`, { dataRoots: [root] });
    await fs.writeFile(
      path.join(dir, 'SegmentationClass', 'a.png'),
      encodeLabelPng(new Uint8Array(20 * 11), 20, 11),
    );
    await expect(decodeSegmentationSample(ds.train[0], ds)).rejects.toThrow(
      /a\.png \(image "a"\): expected the 20x10 \(width x height\) of its image .*a\.jpg, got 20x11/,
    );
  });

  it('refuses an image larger than the pixel cap', async () => {
    const ds = await openSegmentationDataset(`voc-seg:${await vocFolder()}`, { dataRoots: [root] });
    await expect(decodeSegmentationSample(ds.train[0], ds, 100)).rejects.toThrow(
      /a\.jpg: expected a decodable image, got sharp error ".*pixel limit/,
    );
  });
});
