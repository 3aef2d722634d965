import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { DataError } from '../errors';
import { openDetectionDataset } from './open';
import { openFailure } from './test-util';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-coco-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

function instances(patch: Json = {}): Json {
  return {
    info: { description: 'test' },
    images: [
      { id: 7, file_name: 'b.jpg', width: 20, height: 10 },
      { id: 3, file_name: 'sub/a.jpg', width: 20, height: 10 },
    ],
    annotations: [
      { id: 1, image_id: 3, category_id: 18, bbox: [1, 2, 3.5, 4], iscrowd: 0, segmentation: [[1, 2]] },
      { id: 2, image_id: 3, category_id: 1, bbox: [0, 0, 20, 10], iscrowd: 1 },
      { id: 3, image_id: 7, category_id: 18, bbox: [5, 5, 2, 2] },
    ],
    categories: [
      { id: 18, name: 'dog', supercategory: 'animal' },
      { id: 1, name: 'person' },
    ],
    ...patch,
  };
}

/** A COCO layout: train.json with images in train/, val.json with images in val/. */
async function cocoFolder(
  train: Json | string = instances(),
  val: Json | string = instances(),
): Promise<string> {
  const dir = path.join(root, `coco${n++}`);
  for (const split of ['train', 'val']) {
    await fs.mkdir(path.join(dir, split, 'sub'), { recursive: true });
    for (const file of ['b.jpg', 'sub/a.jpg']) {
      await sharp({ create: { width: 20, height: 10, channels: 3, background: '#808080' } })
        .jpeg()
        .toFile(path.join(dir, split, file));
    }
  }
  const text = (j: Json | string): string => (typeof j === 'string' ? j : JSON.stringify(j));
  await fs.writeFile(path.join(dir, 'train.json'), text(train));
  await fs.writeFile(path.join(dir, 'val.json'), text(val));
  return dir;
}

const uriOf = (dir: string): string =>
  `coco:${dir}/train.json?images=${dir}/train&test=${dir}/val.json&test_images=${dir}/val`;

const failure = (uri: string, options: { maxFileBytes?: number } = {}): Promise<DataError> =>
  openFailure(uri, { dataRoots: [root], ...options });

describe('COCO', () => {
  it('reads x,y,w,h boxes, categories by id, images by id, crowd flags', async () => {
    const dir = await cocoFolder();
    const ds = await openDetectionDataset(uriOf(dir), { dataRoots: [root] });
    expect(ds.name).toBe('train');
    expect(ds.classNames).toEqual(['person', 'dog']);
    expect(ds.train.map((i) => [i.id, i.file])).toEqual([
      ['3', path.join(dir, 'train', 'sub', 'a.jpg')],
      ['7', path.join(dir, 'train', 'b.jpg')],
    ]);
    expect(ds.train[0].objects).toEqual([
      { xMin: 1, yMin: 2, xMax: 4.5, yMax: 6, classIndex: 1, difficult: false, crowd: false },
      { xMin: 0, yMin: 0, xMax: 20, yMax: 10, classIndex: 0, difficult: false, crowd: true },
    ]);
    expect(ds.test[1].file).toBe(path.join(dir, 'val', 'b.jpg'));
  });

  it('takes images beside each JSON by default and keeps images without annotations', async () => {
    const dir = await cocoFolder(instances({ annotations: [] }));
    await fs.copyFile(path.join(dir, 'train', 'b.jpg'), path.join(dir, 'b.jpg'));
    await fs.mkdir(path.join(dir, 'sub'));
    await fs.copyFile(path.join(dir, 'train', 'b.jpg'), path.join(dir, 'sub', 'a.jpg'));
    const ds = await openDetectionDataset(`coco:${dir}/train.json?test=${dir}/val.json`, {
      dataRoots: [root],
    });
    expect(ds.train.map((i) => [i.file, i.objects.length])).toEqual([
      [path.join(dir, 'sub', 'a.jpg'), 0],
      [path.join(dir, 'b.jpg'), 0],
    ]);
  });

  const image = (patch: Json): Json => ({
    images: [{ id: 3, file_name: 'b.jpg', width: 20, height: 10, ...patch }],
    annotations: [],
  });
  const annotation = (patch: Json): Json => ({
    images: [{ id: 3, file_name: 'b.jpg', width: 20, height: 10 }],
    annotations: [{ id: 41, image_id: 3, category_id: 1, bbox: [1, 1, 2, 2], ...patch }],
  });
  it.each([
    ['malformed JSON', '{"images": [', /train\.json: expected valid JSON, got ".*"/],
    ['a non-object', '[]', /train\.json: expected .*object.*, got \[\]/],
    [
      'no images',
      instances({ images: undefined }),
      /train\.json images: expected an array of images, got nothing/,
    ],
    [
      'an image without a width',
      image({ width: undefined }),
      /images\[0\]\.width \(id 3\): expected an integer in \[1, 65535\], got nothing/,
    ],
    ['a string id', image({ id: 'x' }), /images\[0\]\.id: expected an integer id, got "x"/],
    [
      'a NUL in a file name',
      image({ file_name: 'b\u0000.jpg' }),
      /images\[0\]\.file_name \(id 3\): expected a file path without NUL/,
    ],
    [
      'a short bbox',
      annotation({ bbox: [1, 2, 3] }),
      /annotations\[0\]\.bbox \(id 41\): expected \[x, y, width, height\], got \[1,2,3\]/,
    ],
    [
      'a bad iscrowd',
      annotation({ iscrowd: 2 }),
      /annotations\[0\]\.iscrowd \(id 41\): expected 0 or 1, got 2/,
    ],
    ['no categories', instances({ categories: [] }), /categories: expected at least one category, got \[\]/],
    [
      'an unknown category',
      annotation({ category_id: 5 }),
      /annotations\[0\] \(id 41\)\.category_id: expected a category id among 1, 18, got 5/,
    ],
    [
      'an unknown image',
      annotation({ image_id: 4 }),
      /annotations\[0\] \(id 41\)\.image_id: expected the id of an image in images, got 4/,
    ],
    [
      'a zero-area box',
      annotation({ bbox: [1, 1, 0, 2] }),
      /annotations\[0\] \(id 41\)\.bbox: expected a box of positive area .*, got \[1, 1, 1, 3\]/,
    ],
    ['a negative box', annotation({ bbox: [1, 1, -2, 2] }), /expected a box of positive area/],
    [
      'a box outside the image',
      annotation({ bbox: [15, 1, 10, 2] }),
      /\.bbox: expected a box inside the 20x10 image .*, got \[15, 1, 25, 3\]/,
    ],
    [
      'a repeated image id',
      { images: [...(instances().images as Json[]), { id: 3, file_name: 'b.jpg', width: 20, height: 10 }] },
      /image id 3: expected distinct image ids, got it twice/,
    ],
    [
      'a repeated category name',
      {
        categories: [
          { id: 1, name: 'dog' },
          { id: 2, name: 'dog' },
        ],
      },
      /categories: expected distinct category names, got "dog" twice/,
    ],
    [
      'no images at all',
      { images: [], annotations: [] },
      /train\.json images: expected at least one image, got an empty list/,
    ],
    [
      'an absolute file name',
      image({ file_name: '/etc/passwd' }),
      /images\[0\] \(id 3\) file_name: expected a path inside .*train, got "\/etc\/passwd"/,
    ],
    [
      'a file name leaving the folder',
      image({ file_name: '../val/b.jpg' }),
      /file_name: expected a path inside .*train, got "..\/val\/b.jpg"/,
    ],
  ])('refuses %s, naming the file, the element and its id', async (_name, patch, message) => {
    const train = typeof patch === 'string' ? patch : instances(patch as Json);
    const err = await failure(uriOf(await cocoFolder(train)));
    expect(err.message).toMatch(message);
    expect(err.code).toBe('FAILED_PRECONDITION');
  });

  it('refuses a test split with other categories', async () => {
    const dir = await cocoFolder(
      instances(),
      instances({ categories: [{ id: 1, name: 'person' }], annotations: [] }),
    );
    expect((await failure(uriOf(dir))).message).toMatch(
      /val\.json categories: expected the training split's category ids \(1, 18\), got 1/,
    );
  });

  it('answers NOT_FOUND for a listed image that is missing, and refuses files leading out of the roots', async () => {
    const dir = await cocoFolder();
    await fs.rm(path.join(dir, 'val', 'sub', 'a.jpg'));
    const err = await failure(uriOf(dir));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(
      /val\.json images\[0\] \(id 3\) file_name: expected the image .*a\.jpg to exist, got no such file/,
    );
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-coco-outside-'));
    try {
      const linked = await cocoFolder();
      await fs.rm(path.join(linked, 'train', 'sub'), { recursive: true });
      await fs.mkdir(path.join(outside, 'sub'));
      await fs.writeFile(path.join(outside, 'sub', 'a.jpg'), 'x');
      await fs.symlink(path.join(outside, 'sub'), path.join(linked, 'train', 'sub'));
      const out = await failure(uriOf(linked));
      expect(out.code).toBe('INVALID_ARGUMENT');
      expect(out.message).toMatch(/a\.jpg \(it resolves to .*\) is outside the data roots/);
      await fs.writeFile(path.join(outside, 'x.json'), JSON.stringify(instances()));
      const jsonOut = await failure(`coco:${outside}/x.json?test=${linked}/val.json`);
      expect(jsonOut.message).toMatch(/x\.json is outside the data roots/);
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('refuses bad URIs before reading anything', async () => {
    const dir = await cocoFolder();
    expect((await failure(`coco:${dir}/train.json`)).message).toMatch(
      /query parameter test: expected the test split's instances JSON/,
    );
    expect((await failure(`coco:${dir}/train.json?test=${dir}/val.json&images=`)).message).toMatch(
      /query parameter images: expected a path, got ""/,
    );
    expect((await failure(`coco:${dir}/train.json?test=${dir}/val.json&images=a%00`)).message).toMatch(
      /query parameter images: expected a path/,
    );
    expect((await failure(`coco:${dir}/train?test=${dir}/val.json`)).message).toMatch(
      /train is not a regular file/,
    );
    const missing = await failure(`coco:${dir}/nothing.json?test=${dir}/val.json`);
    expect(missing.code).toBe('NOT_FOUND');
  });

  it('refuses a JSON larger than maxFileBytes before reading it', async () => {
    const err = await failure(uriOf(await cocoFolder()), { maxFileBytes: 64 });
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toMatch(/train\.json: \d+ bytes is more than the 64 bytes a dataset file may have/);
  });
});
