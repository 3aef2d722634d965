// Cityscapes fine annotations as BiSeNet's loader reads them (`B/data_utils/cityscapes.py`):
// `leftImg8bit/<split>/<city>/<name>_leftImg8bit.png` images with
// `gtFine/<split>/<city>/<name>_gtFine_labelIds.png` 8-bit label ids, mapped to the 19 train ids
// when decoded (CITYSCAPES_TRAIN_IDS; the others ignored).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { exists, type LoadContext } from '../files';
import { mapPool } from '../detection/files';
import { AnnotationError } from '../detection/types';
import type { VocSplits } from '../detection/voc';
import { segmentationImage } from './files';
import { CITYSCAPES_CLASSES, type SegmentationImage } from './types';
import type { LoadedSegmentation } from './voc';

const IMAGE_SUFFIX = '_leftImg8bit.png';
const MASK_SUFFIX = '_gtFine_labelIds.png';
/** More files than Cityscapes' 5000 fine images by far: a runaway folder stops here. */
const MAX_IMAGES = 1_000_000;

/** A split folder under the root, checked to lie under the data roots; NOT_FOUND when missing. */
async function splitFolder(ctx: LoadContext, root: string, top: string, split: string): Promise<string> {
  const dir = path.join(root, top, split);
  if (!(await exists(dir))) {
    throw new AnnotationError(root, undefined, `a folder ${top}/${split}`, 'none', 'NOT_FOUND');
  }
  const real = ctx.roots === undefined ? dir : await ctx.roots.check(ctx.uri, dir);
  if (!(await fs.stat(real)).isDirectory()) {
    throw new AnnotationError(root, undefined, `${top}/${split} to be a folder`, 'a file');
  }
  return real;
}

/** One split's images, by city then name (sorted, so the order does not depend on the file system). */
async function loadSplit(ctx: LoadContext, root: string, split: string): Promise<SegmentationImage[]> {
  const images = await splitFolder(ctx, root, 'leftImg8bit', split);
  const labels = await splitFolder(ctx, root, 'gtFine', split);
  const listed: { id: string; image: string; mask: string }[] = [];
  for (const city of (await fs.readdir(images)).sort()) {
    const cityDir = path.join(images, city);
    // A symlinked city folder must stay under the roots too.
    const real = ctx.roots === undefined ? cityDir : await ctx.roots.check(ctx.uri, cityDir);
    if (!(await fs.stat(real)).isDirectory()) continue;
    for (const name of (await fs.readdir(real)).sort()) {
      if (!name.endsWith(IMAGE_SUFFIX) || name === IMAGE_SUFFIX) continue;
      const stem = name.slice(0, -IMAGE_SUFFIX.length);
      listed.push({
        id: `${city}/${stem}`,
        image: path.join(cityDir, name),
        mask: path.join(labels, city, `${stem}${MASK_SUFFIX}`),
      });
      if (listed.length > MAX_IMAGES) {
        throw new AnnotationError(
          images,
          undefined,
          `at most ${MAX_IMAGES} images`,
          'more',
          'RESOURCE_EXHAUSTED',
        );
      }
    }
  }
  if (listed.length === 0) {
    throw new AnnotationError(images, undefined, `at least one <city>/<name>${IMAGE_SUFFIX}`, 'none');
  }
  return mapPool(listed, ({ id, image, mask }) =>
    segmentationImage(ctx, id, { image, mask }, { file: image, location: '(its label map)' }),
  );
}

/** Reads a Cityscapes root: both splits' images and label maps found and sized. */
export async function loadCityscapes(
  ctx: LoadContext,
  root: string,
  splits: VocSplits,
): Promise<LoadedSegmentation> {
  const train = await loadSplit(ctx, root, splits.train);
  const test = splits.test === splits.train ? train : await loadSplit(ctx, root, splits.test);
  return { classNames: [...CITYSCAPES_CLASSES], train, test };
}
