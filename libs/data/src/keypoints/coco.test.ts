import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { DataError } from '../errors';
import { openKeypointDataset } from './open';
import {
  COCO_FLIP_PAIRS,
  COCO_KEYPOINT_NAMES,
  COCO_OKS_SIGMAS,
  COCO_SKELETON,
  DEFAULT_OKS_SIGMA,
  flipPairsFromNames,
} from './types';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-cocokp-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

const NAMES = ['head', 'left_hand', 'right_hand', 'hip'];

function person(patch: Json = {}): Json {
  return {
    name: 'person',
    id: 1,
    keypoints: NAMES,
    skeleton: [
      [1, 2],
      [1, 3],
      [1, 4],
    ],
    ...patch,
  };
}

function keypointsJson(patch: Json = {}): Json {
  return {
    info: { description: 'test' },
    images: [
      { id: 7, file_name: 'b.jpg', width: 20, height: 10 },
      { id: 3, file_name: 'sub/a.jpg', width: 20, height: 10 },
    ],
    annotations: [
      // Image 7 sorts after 3: its person comes second.
      {
        id: 11,
        image_id: 7,
        category_id: 1,
        bbox: [2, 1, 6, 8],
        area: 30,
        num_keypoints: 2,
        keypoints: [4, 2, 2, 0, 0, 0, 6, 5, 1, 0, 0, 0],
        iscrowd: 0,
      },
      // Over the right edge by half a pixel: clipped like the reference.
      {
        id: 12,
        image_id: 3,
        category_id: 1,
        bbox: [-0.5, 0, 20.5, 10],
        keypoints: [1, 1, 2, 2, 2, 2, 3, 3, 2, 4, 4, 2],
      },
      // Left out: a crowd, a person without labelled keypoints, a zero-area segment, a dog.
      { id: 13, image_id: 3, category_id: 1, bbox: [0, 0, 5, 5], iscrowd: 1 },
      { id: 14, image_id: 3, category_id: 1, bbox: [0, 0, 5, 5], keypoints: new Array(12).fill(0) },
      {
        id: 15,
        image_id: 3,
        category_id: 1,
        bbox: [0, 0, 5, 5],
        area: 0,
        keypoints: [1, 1, 2, ...new Array(9).fill(0)],
      },
      { id: 16, image_id: 3, category_id: 18, bbox: [0, 0, 5, 5] },
    ],
    categories: [{ id: 18, name: 'dog' }, person()],
    ...patch,
  };
}

async function folder(
  train: Json | string = keypointsJson(),
  val: Json | string = keypointsJson(),
): Promise<string> {
  const dir = path.join(root, `kp${n++}`);
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
  `coco-keypoints:${dir}/train.json?images=${dir}/train&test=${dir}/val.json&test_images=${dir}/val`;

async function failure(uri: string, options: { maxFileBytes?: number } = {}): Promise<DataError> {
  const err = await openKeypointDataset(uri, { dataRoots: [root], ...options }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataError)) throw new Error(`expected a DataError for ${uri}, got ${String(err)}`);
  return err;
}

describe('COCO person keypoints', () => {
  it('reads persons with keypoints, clean boxes, names, 0-based skeleton, pairs from names', async () => {
    const dir = await folder();
    const ds = await openKeypointDataset(uriOf(dir), { dataRoots: [root] });
    expect(ds).toMatchObject({ name: 'train', format: 'coco-keypoints', keypointNames: NAMES });
    expect(ds.skeleton).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
    ]);
    expect(ds.flipPairs).toEqual([[1, 2]]);
    expect(ds.oksSigmas).toEqual([0.05, 0.05, 0.05, 0.05]);
    expect(ds.train.map((p) => [p.id, p.imageId, p.file])).toEqual([
      ['12', '3', path.join(dir, 'train', 'sub', 'a.jpg')],
      ['11', '7', path.join(dir, 'train', 'b.jpg')],
    ]);
    const [a, b] = ds.train;
    // x1 = 0, x2 = min(19, 0 + 19.5) = 19; y2 = min(9, 0 + 9) = 9.
    expect(a.box).toEqual([0, 0, 19, 9]);
    expect(a.area).toBeCloseTo(205);
    expect(a.numKeypoints).toBe(4);
    expect(b).toMatchObject({ width: 20, height: 10, box: [2, 1, 5, 7], area: 30, numKeypoints: 2 });
    expect(Array.from(b.keypoints)).toEqual([4, 2, 2, 0, 0, 0, 6, 5, 1, 0, 0, 0]);
    expect(ds.test.map((p) => p.id)).toEqual(['12', '11']);
  });

  it("knows COCO's keypoints: its sigmas, and pairs from the names match the reference's", async () => {
    expect(flipPairsFromNames(COCO_KEYPOINT_NAMES)).toEqual(COCO_FLIP_PAIRS);
    expect(COCO_SKELETON).toHaveLength(19);
    expect(COCO_SKELETON[0]).toEqual([15, 13]);
    expect(COCO_SKELETON.flat().every((j) => j >= 0 && j < 17)).toBe(true);
    const cocoPerson = person({ keypoints: COCO_KEYPOINT_NAMES, skeleton: [[16, 14]] });
    const ann = {
      id: 1,
      image_id: 3,
      category_id: 1,
      bbox: [0, 0, 10, 10],
      keypoints: [5, 5, 2, ...new Array(48).fill(0)],
    };
    const json = keypointsJson({ categories: [cocoPerson], annotations: [ann] });
    const ds = await openKeypointDataset(uriOf(await folder(json, json)), { dataRoots: [root] });
    expect(ds.oksSigmas).toEqual(COCO_OKS_SIGMAS);
    expect(ds.flipPairs).toEqual(COCO_FLIP_PAIRS);
    expect(ds.skeleton).toEqual([[15, 13]]);
    expect(ds.train[0].keypoints).toHaveLength(51);
    expect(DEFAULT_OKS_SIGMA).toBe(0.05);
  });

  it('takes flip pairs and OKS sigmas from the category when it gives them', async () => {
    const json = keypointsJson({
      categories: [
        { id: 18, name: 'dog' },
        person({ flip_pairs: [[4, 1]], oks_sigmas: [0.1, 0.2, 0.3, 0.4] }),
      ],
    });
    const ds = await openKeypointDataset(uriOf(await folder(json, json)), { dataRoots: [root] });
    expect(ds.flipPairs).toEqual([[3, 0]]);
    expect(ds.oksSigmas).toEqual([0.1, 0.2, 0.3, 0.4]);
  });

  it('pairs names with a left/right word anywhere, and only those', () => {
    expect(
      flipPairsFromNames(['hand-Left', 'x', 'hand-Right', 'left', 'right', 'leftover', 'rightover']),
    ).toEqual([
      [0, 2],
      [3, 4],
    ]);
  });

  const kp = (patch: Json): Json =>
    keypointsJson({
      annotations: [
        {
          id: 41,
          image_id: 3,
          category_id: 1,
          bbox: [1, 1, 5, 5],
          keypoints: [2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
          ...patch,
        },
      ],
    });
  it.each([
    ['malformed JSON', '{"images": [', /train\.json: expected valid JSON, got ".*"/],
    ['a JSON that is not an object', '[1]', /train\.json: expected .*object.*, got \[1\]/],
    [
      'keypoints of the wrong length',
      kp({ keypoints: [1, 2, 2] }),
      /train\.json annotations\[0\] \(id 41\)\.keypoints: expected 12 numbers \(x, y, v for each of 4 keypoints\), got 3 numbers/,
    ],
    [
      'no keypoints on a person',
      kp({ keypoints: undefined }),
      /annotations\[0\] \(id 41\)\.keypoints: expected 12 numbers .*, got nothing/,
    ],
    [
      'a visibility flag of 3',
      kp({ keypoints: [2, 2, 2, 1, 1, 3, 0, 0, 0, 0, 0, 0] }),
      /annotations\[0\] \(id 41\)\.keypoints\[5\] \(keypoint 1\): expected a visibility flag 0, 1 or 2, got 3/,
    ],
    [
      'a fractional visibility flag',
      kp({ keypoints: [2, 2, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0] }),
      /keypoints\[2\] \(keypoint 0\): expected a visibility flag 0, 1 or 2, got 0.5/,
    ],
    [
      'a null (NaN written as JSON) coordinate',
      kp({ keypoints: [2, null, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0] }),
      /annotations\[0\]\.keypoints\[1\] \(id 41\): expected a finite number, got null/,
    ],
    [
      'an infinite coordinate',
      '{"images":[{"id":3,"file_name":"b.jpg","width":20,"height":10}],"categories":[{"id":1,"name":"person","keypoints":["a"]}],' +
        '"annotations":[{"id":41,"image_id":3,"category_id":1,"bbox":[1,1,5,5],"keypoints":[1e400,2,2]}]}',
      /annotations\[0\]\.keypoints\[0\] \(id 41\): expected a finite number, got null/,
    ],
    [
      'a labelled keypoint outside the image',
      kp({ keypoints: [25, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0] }),
      /annotations\[0\] \(id 41\)\.keypoints\[0\] \(keypoint 0\): expected a point inside the 20x10 image, got \(25, 2\)/,
    ],
    [
      'a box outside the image',
      kp({ bbox: [15, 1, 10, 2] }),
      /annotations\[0\] \(id 41\)\.bbox: expected a box inside the 20x10 image .*, got \[15, 1, 25, 3\]/,
    ],
    [
      'a zero-area box',
      kp({ bbox: [1, 1, 0, 2] }),
      /annotations\[0\] \(id 41\)\.bbox: expected a box of positive area/,
    ],
    [
      'a box under a pixel across',
      kp({ bbox: [1, 1, 0.5, 0.5] }),
      /annotations\[0\] \(id 41\)\.bbox: expected a box more than one pixel across once clipped to the image, got \[1,1,0.5,0.5\]/,
    ],
    [
      'a negative area',
      kp({ area: -3 }),
      /annotations\[0\] \(id 41\)\.area: expected a non-negative area, got -3/,
    ],
    [
      'an unknown image id',
      kp({ image_id: 4 }),
      /annotations\[0\] \(id 41\)\.image_id: expected the id of an image in images, got 4/,
    ],
    [
      'an unknown category id',
      kp({ category_id: 2 }),
      /annotations\[0\] \(id 41\)\.category_id: expected a category id among 1, 18, got 2/,
    ],
    [
      'no person category',
      keypointsJson({ categories: [{ id: 1, name: 'people', keypoints: NAMES }] }),
      /train\.json categories: expected one category named "person", got none \("people"\)/,
    ],
    [
      'a person category without keypoint names',
      keypointsJson({ categories: [{ id: 1, name: 'person' }] }),
      /categories \(id 1\)\.keypoints: expected keypoint names, got none/,
    ],
    [
      'repeated keypoint names',
      keypointsJson({ categories: [person({ keypoints: ['a', 'b', 'a', 'c'] })] }),
      /categories \(id 1\)\.keypoints: expected distinct keypoint names, got "a" twice/,
    ],
    [
      'a skeleton naming keypoint 0 (it is 1-based)',
      keypointsJson({ categories: [person({ skeleton: [[0, 1]] })] }),
      /categories \(id 1\)\.skeleton\[0\]: expected two distinct keypoint numbers in \[1, 4\] \(1-based\), got \[0,1\]/,
    ],
    [
      'a skeleton past the last keypoint',
      keypointsJson({ categories: [person({ skeleton: [[1, 5]] })] }),
      /skeleton\[0\]: expected two distinct keypoint numbers in \[1, 4\]/,
    ],
    [
      'a keypoint in two flip pairs',
      keypointsJson({
        categories: [
          person({
            flip_pairs: [
              [1, 2],
              [2, 3],
            ],
          }),
        ],
      }),
      /flip_pairs: expected each keypoint in at most one pair, got "left_hand" in two/,
    ],
    [
      'sigmas of the wrong count',
      keypointsJson({ categories: [person({ oks_sigmas: [0.1] })] }),
      /categories \(id 1\)\.oks_sigmas: expected 4 sigmas, one per keypoint, got 1/,
    ],
    [
      'no usable person',
      keypointsJson({ annotations: [] }),
      /train\.json annotations: expected at least one non-crowd person with a labelled keypoint, got none/,
    ],
    [
      'a repeated image id',
      keypointsJson({
        images: [
          { id: 3, file_name: 'b.jpg', width: 20, height: 10 },
          { id: 3, file_name: 'b.jpg', width: 20, height: 10 },
        ],
      }),
      /image id 3: expected distinct image ids, got it twice/,
    ],
    [
      'a file name leaving the folder',
      keypointsJson({
        images: [{ id: 3, file_name: '../val/b.jpg', width: 20, height: 10 }],
        annotations: [],
      }),
      /images\[0\] \(id 3\) file_name: expected a path inside .*train, got "..\/val\/b.jpg"/,
    ],
  ])('refuses %s, naming the file and the annotation', async (_name, train, message) => {
    const err = await failure(uriOf(await folder(train)));
    expect(err.message).toMatch(message);
    expect(err.code).toBe('FAILED_PRECONDITION');
  });

  it('checks crowd annotations that carry keypoints too', async () => {
    const err = await failure(uriOf(await folder(kp({ iscrowd: 1, keypoints: [1] }))));
    expect(err.message).toMatch(/annotations\[0\] \(id 41\)\.keypoints: expected 12 numbers/);
  });

  it('refuses a test split whose keypoints differ from training', async () => {
    const val = keypointsJson({
      categories: [
        { id: 18, name: 'dog' },
        person({ keypoints: ['head', 'left_hand', 'right_hand', 'pelvis'] }),
      ],
    });
    const err = await failure(uriOf(await folder(keypointsJson(), val)));
    expect(err.message).toMatch(/val\.json categories \(id 1\): expected the training split's keypointNames/);
  });

  it('answers NOT_FOUND for a missing image file, naming the JSON and the image', async () => {
    const dir = await folder();
    await fs.rm(path.join(dir, 'val', 'b.jpg'));
    const err = await failure(uriOf(dir));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(
      /val\.json images\[1\] \(id 7\) file_name: expected the image .*b\.jpg to exist/,
    );
  });

  it('refuses a JSON over maxFileBytes, bad URIs and other tasks’ schemes before reading', async () => {
    const dir = await folder();
    const big = await failure(uriOf(dir), { maxFileBytes: 64 });
    expect(big.code).toBe('RESOURCE_EXHAUSTED');
    expect(big.message).toMatch(/train\.json: \d+ bytes is more than the 64 bytes a dataset file may have/);
    expect((await failure(`coco-keypoints:${dir}/train.json`)).message).toMatch(/query parameter test/);
    const other = await failure(`coco:${dir}/train.json?test=${dir}/val.json`);
    expect(other.code).toBe('INVALID_ARGUMENT');
    expect(other.message).toMatch(
      /expected a keypoint dataset \(coco-keypoints:\), got a coco: detection dataset/,
    );
    const missing = await failure(`coco-keypoints:${dir}/none.json?test=${dir}/val.json`);
    expect(missing.code).toBe('NOT_FOUND');
    await expect(openKeypointDataset(uriOf(dir), { dataRoots: [root], maxFileBytes: 0 })).rejects.toThrow(
      /maxFileBytes: expected a positive integer, got 0/,
    );
  });

  it('refuses an empty file and a huge keypoint array without choking', async () => {
    expect((await failure(uriOf(await folder('')))).message).toMatch(/train\.json: expected valid JSON/);
    const huge = await failure(uriOf(await folder(kp({ keypoints: new Array(100_000).fill(1) }))));
    expect(huge.message).toMatch(/annotations\[0\]\.keypoints \(id 41\): expected at most 300 numbers/);
  });
});
