import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../rng';
import { decodePersonImage, keypointSample } from './crop';
import { openKeypointDataset } from './open';
import { FIGURE_KEYPOINT_NAMES, FIGURE_OKS_SIGMAS, FIGURE_SKELETON, writeKeypointFigures } from './synthetic';

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-kpfig-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** The brightest channel around (x, y): the figures are drawn in a palette far above the background. */
function brightness(pixels: Uint8Array, width: number, height: number, x: number, y: number): number {
  let best = 0;
  for (let dy = -1; dy <= 1; dy++)
    for (let dx = -1; dx <= 1; dx++) {
      const [u, v] = [Math.round(x) + dx, Math.round(y) + dy];
      if (u < 0 || v < 0 || u >= width || v >= height) continue;
      for (let c = 0; c < 3; c++) best = Math.max(best, pixels[(v * width + u) * 3 + c]);
    }
  return best;
}

describe('writeKeypointFigures', () => {
  it('writes COCO person keypoints the loader reads: names, skeleton, pairs, sigmas, persons', async () => {
    const dir = path.join(root, 'a');
    const { uri } = await writeKeypointFigures(dir, { train: 12, test: 3, size: 64, seed: 5 });
    expect(uri).toMatch(/^coco-keypoints:.*person_keypoints_train\.json\?images=/);
    const ds = await openKeypointDataset(uri, { dataRoots: [root] });
    expect(ds.keypointNames).toEqual(FIGURE_KEYPOINT_NAMES);
    expect(ds.skeleton).toEqual(FIGURE_SKELETON);
    expect(ds.flipPairs).toEqual([
      [2, 3],
      [5, 6],
    ]);
    expect(ds.oksSigmas).toEqual(FIGURE_OKS_SIGMAS);
    const perImage = new Map<string, number>();
    for (const p of ds.train) perImage.set(p.imageId, (perImage.get(p.imageId) ?? 0) + 1);
    expect(perImage.size).toBe(12);
    expect(Math.max(...perImage.values())).toBeLessThanOrEqual(2);
    expect([...perImage.values()]).toContain(2);
    const flags = new Set<number>();
    for (const p of [...ds.train, ...ds.test]) {
      const [x, y, w, h] = p.box;
      expect(p.area).toBe((w + 1) * (h + 1));
      for (let j = 0; j < 7; j++) {
        const v = p.keypoints[3 * j + 2];
        flags.add(v);
        if (v === 0) continue;
        // Every labelled joint inside its person's box, the box inside the image.
        expect(p.keypoints[3 * j]).toBeGreaterThanOrEqual(x);
        expect(p.keypoints[3 * j]).toBeLessThanOrEqual(x + w);
        expect(p.keypoints[3 * j + 1]).toBeGreaterThanOrEqual(y);
        expect(p.keypoints[3 * j + 1]).toBeLessThanOrEqual(y + h);
      }
      expect(x + w).toBeLessThanOrEqual(63);
      // Facing the viewer: the left hand is right of the right hand when both are labelled.
      if (p.keypoints[8] > 0 && p.keypoints[11] > 0) expect(p.keypoints[6]).toBeGreaterThan(p.keypoints[9]);
    }
    expect([...flags].sort()).toEqual([0, 1, 2]);
  });

  it('puts each visible keypoint on its drawn joint, in the image and in crops with and without augmentation', async () => {
    const dir = path.join(root, 'b');
    const { uri } = await writeKeypointFigures(dir, { train: 4, test: 1, size: 64, seed: 8 });
    const ds = await openKeypointDataset(uri, { dataRoots: [root] });
    const rng = Rng.fromSeed(1);
    let checked = 0;
    for (const p of ds.train) {
      const { pixels } = await decodePersonImage(p);
      for (let j = 0; j < 7; j++) {
        if (p.keypoints[3 * j + 2] !== 2) continue;
        expect(brightness(pixels, 64, 64, p.keypoints[3 * j], p.keypoints[3 * j + 1])).toBeGreaterThan(170);
      }
      for (const r of [null, rng, rng]) {
        const s = keypointSample(
          p,
          pixels,
          { inputWidth: 48, inputHeight: 64, scaleFactor: 0.3, rotationFactor: 40, flipPairs: ds.flipPairs },
          r,
        );
        for (let j = 0; j < 7; j++) {
          const [x, y, v] = s.keypoints.slice(3 * j, 3 * j + 3);
          if (v !== 2 || x < 0 || y < 0 || x > 47 || y > 63) continue;
          expect(brightness(s.pixels, 48, 64, x, y)).toBeGreaterThan(170);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('writes the same files from the same seed, other files from another', async () => {
    const read = async (d: string): Promise<string[]> => [
      await fs.readFile(path.join(d, 'annotations', 'person_keypoints_train.json'), 'utf8'),
      (await fs.readFile(path.join(d, 'train', '000002.jpg'))).toString('base64'),
    ];
    for (const d of ['c', 'd', 'e']) {
      await writeKeypointFigures(path.join(root, d), {
        train: 2,
        test: 1,
        size: 48,
        seed: d === 'e' ? 2 : 1,
      });
    }
    const [c, d, e] = await Promise.all(['c', 'd', 'e'].map((x) => read(path.join(root, x))));
    expect(d).toEqual(c);
    expect(e[0]).not.toEqual(c[0]);
    expect(e[1]).not.toEqual(c[1]);
  });

  it('refuses bad options', async () => {
    await expect(writeKeypointFigures(root, { train: 0, test: 1, size: 64, seed: 1 })).rejects.toThrow(
      /train: expected an integer in \[1, 100000\], got 0/,
    );
    await expect(writeKeypointFigures(root, { train: 1, test: 1, size: 16, seed: 1 })).rejects.toThrow(
      /size/,
    );
    await expect(
      writeKeypointFigures(root, { train: 1, test: 1, size: 64, seed: 1, maxFigures: 9 }),
    ).rejects.toThrow(/maxFigures/);
    await expect(writeKeypointFigures('a?b', { train: 1, test: 1, size: 64, seed: 1 })).rejects.toThrow(
      /dir: expected a directory path/,
    );
  });
});
