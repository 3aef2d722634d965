import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { temporaryDataRoot } from '../synthetic';
import { decodeSegmentationSample } from './decode';
import { openSegmentationDataset } from './open';
import { SEGMENTATION_SHAPES, writeSegmentationShapes } from './synthetic';

let tmp: string;
let root: string;
beforeAll(async () => {
  ({ dir: tmp, dataRoot: root } = await temporaryDataRoot('rnas-segshapes-', { train: 1, test: 1, seed: 1 }));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('writeSegmentationShapes', () => {
  it('writes a VOC segmentation folder that opens and decodes to the shapes, bordered by the ignore label', async () => {
    const dir = path.join(root, 'shapes');
    const { uri } = await writeSegmentationShapes(dir, { train: 4, test: 2, size: 48, seed: 3 });
    expect(uri).toBe(`voc-seg:${dir}`);
    const ds = await openSegmentationDataset(uri, { dataRoots: [root] });
    expect(ds.classNames).toEqual(SEGMENTATION_SHAPES);
    expect(ds.train.map((i) => i.id)).toEqual(['000001', '000002', '000003', '000004']);
    expect(ds.test.map((i) => i.id)).toEqual(['000005', '000006']);
    const seen = new Set<number>();
    for (const image of [...ds.train, ...ds.test]) {
      expect([image.width, image.height]).toEqual([48, 48]);
      const s = await decodeSegmentationSample(image, ds);
      const values = new Set(s.mask);
      // Background, the ignore band and at least one shape in every image.
      expect(values.has(0)).toBe(true);
      expect(values.has(255)).toBe(true);
      const shapes = [...values].filter((v) => v >= 1 && v <= 3);
      expect(shapes.length).toBeGreaterThan(0);
      expect([...values].every((v) => v <= 3 || v === 255)).toBe(true);
      shapes.forEach((v) => seen.add(v));
      // No shape pixel touches a pixel of another label: the ignore band lies between them.
      let shapeBrightness = 0;
      let shapePixels = 0;
      let backgroundBrightness = 0;
      let backgroundPixels = 0;
      for (let y = 0; y < 48; y++) {
        for (let x = 0; x < 48; x++) {
          const v = s.mask[y * 48 + x];
          if (v === 255) continue;
          for (const [dx, dy] of [
            [1, 0],
            [0, 1],
          ]) {
            const u = x + dx < 48 && y + dy < 48 ? s.mask[(y + dy) * 48 + x + dx] : 255;
            if (u !== 255) expect(u).toBe(v);
          }
          const p = (y * 48 + x) * 3;
          const brightness = Math.max(s.pixels[p], s.pixels[p + 1], s.pixels[p + 2]);
          if (v === 0) {
            backgroundBrightness += brightness;
            backgroundPixels++;
          } else {
            shapeBrightness += brightness;
            shapePixels++;
          }
        }
      }
      // Shapes are drawn bright over dark backgrounds: the labels lie on them.
      expect(shapeBrightness / shapePixels).toBeGreaterThan(backgroundBrightness / backgroundPixels + 60);
    }
    expect(seen.size).toBeGreaterThanOrEqual(2);
  });

  it('writes the same files for the same options and other ones for another seed', async () => {
    const options = { train: 1, test: 1, size: 32, seed: 9, maxObjects: 2 };
    await writeSegmentationShapes(path.join(root, 'a'), options);
    await writeSegmentationShapes(path.join(root, 'b'), options);
    await writeSegmentationShapes(path.join(root, 'c'), { ...options, seed: 10 });
    const read = (d: string): Promise<Buffer> =>
      fs.readFile(path.join(root, d, 'SegmentationClass', '000001.png'));
    expect((await read('b')).equals(await read('a'))).toBe(true);
    expect((await read('c')).equals(await read('a'))).toBe(false);
  });

  it.each([
    [
      'a zero train count',
      { train: 0, test: 1, size: 32, seed: 1 },
      /train: expected an integer in \[1, 100000\], got 0/,
    ],
    [
      'a tiny size',
      { train: 1, test: 1, size: 8, seed: 1 },
      /size: expected an integer in \[32, 1024\], got 8/,
    ],
    ['a negative seed', { train: 1, test: 1, size: 32, seed: -1 }, /seed/],
    ['no shapes', { train: 1, test: 1, size: 32, seed: 1, maxObjects: 0 }, /maxObjects/],
  ])('refuses %s', async (_name, options, message) => {
    await expect(writeSegmentationShapes(path.join(root, 'x'), options)).rejects.toThrow(message);
  });

  it("refuses a directory with '?' (it would end the URI's path)", async () => {
    await expect(
      writeSegmentationShapes(path.join(root, 'a?b'), { train: 1, test: 1, size: 32, seed: 1 }),
    ).rejects.toThrow(/dir: expected a directory path/);
  });
});
