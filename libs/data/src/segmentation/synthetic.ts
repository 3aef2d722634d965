// Synthetic segmentation data in the real VOC layout: the detection shapes' images (1 to 3
// shapes over a textured background, the class given by the shape alone), with palette label
// maps of each shape's pixels and VOC's ignore label on a band around every shape's outline, so
// BiSeNet on a small backbone learns it in minutes while the loaders read real files.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { checkInt, invalidArgument } from '../errors';
import { drawImage, jpeg } from '../detection/synthetic';
import { Rng } from '../rng';
import { encodeLabelPng } from './png';
import { SEGMENTATION_IGNORE } from './types';

/** Class names in order: the background, then the detection shapes' first three. */
export const SEGMENTATION_SHAPES: readonly string[] = ['background', 'circle', 'square', 'triangle'];

export interface SegmentationShapesOptions {
  train: number;
  test: number;
  /** Image side in pixels. */
  size: number;
  seed: number;
  /** Shapes per image are 1 to maxObjects (default 3). */
  maxObjects?: number;
}

/**
 * Labels from the drawing: each shape's class (1-based, after the background), and 255 on every
 * pixel with a neighbour (of 8) owned by another shape or the background: a band 2 px wide along
 * each outline, as VOC marks its object borders.
 */
function labelMap(owner: Int16Array, classOf: readonly number[], size: number): Uint8Array {
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const k = owner[y * size + x];
      let border = false;
      for (let dy = -1; dy <= 1 && !border; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= size || xx >= size) continue;
          if (owner[yy * size + xx] !== k) {
            border = true;
            break;
          }
        }
      }
      mask[y * size + x] = border ? SEGMENTATION_IGNORE : k < 0 ? 0 : classOf[k] + 1;
    }
  }
  return mask;
}

/**
 * Writes a synthetic segmentation dataset into `dir` in VOC's layout (JPEGImages/*.jpg,
 * SegmentationClass/*.png palette label maps, ImageSets/Segmentation/train.txt and val.txt,
 * labels.txt with SEGMENTATION_SHAPES) and returns the URI that opens it. The same options draw
 * the same images and labels.
 */
export async function writeSegmentationShapes(
  dir: string,
  options: SegmentationShapesOptions,
): Promise<{ uri: string }> {
  if (options === null || typeof options !== 'object') throw invalidArgument('options', options, 'an object');
  const train = checkInt('train', options.train, 1, 100_000);
  const test = checkInt('test', options.test, 1, 100_000);
  const size = checkInt('size', options.size, 32, 1024);
  const seed = checkInt('seed', options.seed, 0, Number.MAX_SAFE_INTEGER);
  const maxObjects = checkInt('maxObjects', options.maxObjects ?? 3, 1, 16);
  // '?' would end the URI's path.
  if (typeof dir !== 'string' || dir === '' || /[\0?]/.test(dir)) {
    throw invalidArgument('dir', dir, "a directory path (without NUL or '?')");
  }
  const root = path.resolve(dir);
  for (const sub of ['JPEGImages', 'SegmentationClass', path.join('ImageSets', 'Segmentation')])
    await fs.mkdir(path.join(root, sub), { recursive: true });
  await fs.writeFile(path.join(root, 'labels.txt'), `${SEGMENTATION_SHAPES.join(',')}\n`);
  const rng = Rng.fromSeed(seed);
  let next = 1;
  for (const [split, count] of [
    ['train', train],
    ['val', test],
  ] as const) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      // No tiny "difficult" shapes: every shape is labelled.
      const image = drawImage(rng, size, SEGMENTATION_SHAPES.length - 1, maxObjects, false);
      const id = String(next++).padStart(6, '0');
      ids.push(id);
      await jpeg(image.pixels, size).toFile(path.join(root, 'JPEGImages', `${id}.jpg`));
      const mask = labelMap(
        image.owner,
        image.objects.map((o) => o.classIndex),
        size,
      );
      await fs.writeFile(path.join(root, 'SegmentationClass', `${id}.png`), encodeLabelPng(mask, size, size));
    }
    await fs.writeFile(path.join(root, 'ImageSets', 'Segmentation', `${split}.txt`), `${ids.join('\n')}\n`);
  }
  return { uri: `voc-seg:${root}` };
}
