import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkDatasetUri, DatasetUriError } from '../dataset-uri-check';
import { openDataset } from '../dataset';
import { DataError } from '../errors';
import { decodeDetectionImage } from './decode';
import { openDetectionDataset } from './open';
import { writeDetectionShapes } from './synthetic';
import { trainingObjects, type DetectionDataset } from './types';

let root: string;
let voc: DetectionDataset;
let coco: DetectionDataset;
let cocoUri: string;
const OPTIONS = { train: 24, test: 8, size: 64, seed: 3 };

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-detection-'));
  const v = await writeDetectionShapes(path.join(root, 'voc'), { format: 'voc', ...OPTIONS });
  const c = await writeDetectionShapes(path.join(root, 'coco'), { format: 'coco', ...OPTIONS });
  cocoUri = c.uri;
  voc = await openDetectionDataset(v.uri, { dataRoots: [root] });
  coco = await openDetectionDataset(c.uri, { dataRoots: [root] });
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const boxesOf = (ds: DetectionDataset, split: 'train' | 'test'): number[][][] =>
  ds[split].map((image) => image.objects.map((o) => [o.xMin, o.yMin, o.xMax, o.yMax, o.classIndex]));

describe('synthetic detection datasets', () => {
  it('round-trip through VOC and COCO with identical boxes and labels', () => {
    expect(voc.format).toBe('voc');
    expect(coco.format).toBe('coco');
    expect(voc.classNames).toEqual(['circle', 'square', 'triangle']);
    expect(coco.classNames).toEqual(voc.classNames);
    expect([voc.train.length, voc.test.length, coco.train.length, coco.test.length]).toEqual([24, 8, 24, 8]);
    expect(boxesOf(coco, 'train')).toEqual(boxesOf(voc, 'train'));
    expect(boxesOf(coco, 'test')).toEqual(boxesOf(voc, 'test'));
    // VOC's difficult tiny objects are COCO's crowd ones: both are left out of training alike.
    const ignored = (ds: DetectionDataset): boolean[] =>
      ds.train.flatMap((image) => image.objects.map((o) => o.difficult || o.crowd));
    expect(ignored(coco)).toEqual(ignored(voc));
    expect(voc.train.flatMap((i) => i.objects).some((o) => o.crowd)).toBe(false);
    expect(coco.train.flatMap((i) => i.objects).some((o) => o.difficult)).toBe(false);
    expect(voc.train.map((i) => trainingObjects(i).length)).toEqual(
      coco.train.map((i) => trainingObjects(i).length),
    );
  });

  it('draws 1 to 4 objects per image inside the image, in every class', () => {
    const counts = new Set<number>();
    const classes = new Set<number>();
    for (const image of [...voc.train, ...voc.test]) {
      const kept = trainingObjects(image);
      counts.add(kept.length);
      expect([image.width, image.height]).toEqual([64, 64]);
      for (const o of image.objects) {
        classes.add(o.classIndex);
        expect(o.xMin).toBeGreaterThanOrEqual(0);
        expect(o.yMin).toBeGreaterThanOrEqual(0);
        expect(o.xMax).toBeLessThanOrEqual(63);
        expect(o.yMax).toBeLessThanOrEqual(63);
        const side = Math.max(o.xMax - o.xMin, o.yMax - o.yMin) + 1;
        if (!o.difficult) {
          expect(side).toBeGreaterThanOrEqual(0.2 * 64 * 0.8);
          expect(side).toBeLessThanOrEqual(0.6 * 64 * 1.25);
        }
      }
    }
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...counts)).toBeLessThanOrEqual(4);
    expect(counts.size).toBeGreaterThan(1);
    expect(classes).toEqual(new Set([0, 1, 2]));
  });

  it('writes the same pixels in both formats, bright shapes inside their boxes on a darker background', async () => {
    let inside = 0;
    let outside = 0;
    let nIn = 0;
    let nOut = 0;
    for (let i = 0; i < 6; i++) {
      const a = await decodeDetectionImage(voc.train[i]);
      const b = await decodeDetectionImage(coco.train[i]);
      expect(Buffer.compare(Buffer.from(a.pixels), Buffer.from(b.pixels))).toBe(0);
      const covered = new Uint8Array(64 * 64);
      for (const o of voc.train[i].objects) {
        for (let y = o.yMin; y <= o.yMax; y++) for (let x = o.xMin; x <= o.xMax; x++) covered[y * 64 + x] = 1;
      }
      for (let p = 0; p < 64 * 64; p++) {
        const v = Math.max(a.pixels[p * 3], a.pixels[p * 3 + 1], a.pixels[p * 3 + 2]);
        if (covered[p]) {
          inside += v;
          nIn++;
        } else {
          outside += v;
          nOut++;
        }
      }
    }
    expect(inside / nIn - outside / nOut).toBeGreaterThan(60);
  });

  it('does not tie colour to class', async () => {
    // The brightest channel at each box centre, per class: every class shows several colours.
    const colours = new Map<number, Set<number>>();
    for (const image of voc.train) {
      const { pixels } = await decodeDetectionImage(image);
      for (const o of image.objects) {
        if (o.difficult || o.classIndex === 3) continue;
        const p =
          (Math.round((o.yMin + o.yMax) / 2 + (o.yMax - o.yMin) / 4) * 64 +
            Math.round((o.xMin + o.xMax) / 2)) *
          3;
        const rgb = [pixels[p], pixels[p + 1], pixels[p + 2]];
        const key = rgb.map((v) => (v > 150 ? 1 : 0)).join('');
        const set = colours.get(o.classIndex) ?? new Set<number>();
        set.add(parseInt(key, 2));
        colours.set(o.classIndex, set);
      }
    }
    for (const set of colours.values()) expect(set.size).toBeGreaterThanOrEqual(3);
  });

  it('is deterministic per seed', async () => {
    const again = await writeDetectionShapes(path.join(root, 'voc-again'), { format: 'voc', ...OPTIONS });
    const ds = await openDetectionDataset(again.uri, { dataRoots: [root] });
    expect(boxesOf(ds, 'train')).toEqual(boxesOf(voc, 'train'));
    const other = await writeDetectionShapes(path.join(root, 'voc-other'), {
      format: 'voc',
      ...OPTIONS,
      seed: 4,
    });
    const ds2 = await openDetectionDataset(other.uri, { dataRoots: [root] });
    expect(boxesOf(ds2, 'train')).not.toEqual(boxesOf(voc, 'train'));
  });

  it.each([
    ['format', { format: 'yolo' }, /format: expected voc or coco/],
    ['train', { train: 0 }, /train: expected an integer in \[1, 100000\], got 0/],
    ['size', { size: 8 }, /size: expected an integer in \[32, 1024\], got 8/],
    ['classes', { classes: 7 }, /classes: expected an integer in \[1, 6\], got 7/],
    ['maxObjects', { maxObjects: 0 }, /maxObjects: expected an integer in \[1, 16\]/],
  ])('refuses a bad %s', async (_name, patch, message) => {
    await expect(
      writeDetectionShapes(path.join(root, 'bad'), { format: 'voc', ...OPTIONS, ...patch } as never),
    ).rejects.toThrow(message);
  });

  it('refuses a directory the URI could not name', async () => {
    await expect(writeDetectionShapes(path.join(root, 'a?b'), { format: 'voc', ...OPTIONS })).rejects.toThrow(
      /dir: expected a directory path/,
    );
  });
});

describe('detection URIs', () => {
  it('opens relative paths under the data roots and names the dataset', async () => {
    const ds = await openDetectionDataset('voc:voc?train=train&test=val', { dataRoots: [root] });
    expect(ds.name).toBe('voc');
    expect(ds.train.map((i) => i.id)).toEqual(voc.train.map((i) => i.id));
    const rel = await openDetectionDataset(
      'coco:coco/annotations/instances_train.json?images=coco/train&test=coco/annotations/instances_val.json&test_images=coco/val',
      { dataRoots: [root] },
    );
    expect(rel.name).toBe('instances_train');
    expect(rel.test.map((i) => i.file)).toEqual(coco.test.map((i) => i.file));
    expect(path.isAbsolute(rel.train[0].file)).toBe(true);
  });

  it('are accepted by the job check, which checks every path under the roots', async () => {
    expect(await checkDatasetUri(`voc:${path.join(root, 'voc')}`, [root])).toContain('voc:');
    expect(await checkDatasetUri(cocoUri, [root])).toBe(cocoUri);
    const refused = async (uri: string): Promise<string> =>
      checkDatasetUri(uri, [root]).then(
        () => 'accepted',
        (e: DatasetUriError) => e.expected,
      );
    expect(await refused('voc:/etc')).toContain('outside the data roots');
    expect(await refused(`coco:${path.join(root, 'coco')}?test=x.json`)).toContain('is not a regular file');
    expect(await refused(`coco:${path.join(root, 'coco/annotations/instances_train.json')}`)).toContain(
      "query parameter test: expected the test split's instances JSON",
    );
    expect(
      await refused(`coco:${path.join(root, 'coco/annotations/instances_train.json')}?test=/etc/passwd`),
    ).toContain('query parameter test: /etc/passwd is outside the data roots');
    expect(await refused(`voc:${path.join(root, 'voc')}?train=../../etc/passwd`)).toContain(
      'query parameter train: expected an image-set name',
    );
    expect(await refused(`voc:${path.join(root, 'voc')}?size=3`)).toContain('unknown query parameter "size"');
  });

  it('are refused by openDataset as detection data, and classification URIs by openDetectionDataset', async () => {
    const err = await openDataset(`voc:${path.join(root, 'voc')}`, { dataRoots: [root] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/voc: names a detection dataset/);
    await expect(openDataset(cocoUri, { dataRoots: [root] })).rejects.toThrow(/a detection dataset/);
    await expect(openDetectionDataset('synthetic:shapes', { dataRoots: [root] })).rejects.toThrow(
      /expected a detection dataset \(voc: or coco:\), got a synthetic: classification dataset/,
    );
  });
});
