// Pascal VOC segmentation: `ImageSets/Segmentation/<split>.txt` lists image ids,
// `JPEGImages/<id>.jpg` the image and `SegmentationClass/<id>.png` its palette label map (class i
// in VOC's colour i, 255's colour the object borders, ignored); `labels.txt` in the root, when
// present, replaces the 21 VOC classes (background first). The split files and labels.txt are
// read as detection's VOC reader reads them.
import * as path from 'node:path';
import { exists, type LoadContext } from '../files';
import { mapPool } from '../detection/files';
import { AnnotationError } from '../detection/types';
import { readLabels, readSplit, type VocSplits } from '../detection/voc';
import { segmentationImage } from './files';
import { SEGMENTATION_IGNORE, VOC_SEG_CLASSES, type SegmentationImage } from './types';

/** What a segmentation reader returns: the class names and both splits. */
export interface LoadedSegmentation {
  classNames: string[];
  train: SegmentationImage[];
  test: SegmentationImage[];
}

/** Reads a VOC segmentation folder: both splits listed, every image and label map found and sized. */
export async function loadVocSegmentation(
  ctx: LoadContext,
  dir: string,
  splits: VocSplits,
): Promise<LoadedSegmentation> {
  const classNames = await readLabels(ctx, dir, VOC_SEG_CLASSES);
  // Label values are bytes and 255 is the ignore label.
  if (classNames.length > SEGMENTATION_IGNORE) {
    throw new AnnotationError(
      path.join(dir, 'labels.txt'),
      undefined,
      `at most ${SEGMENTATION_IGNORE} class names (255 is the ignore label)`,
      String(classNames.length),
    );
  }
  const train = await readSplit(ctx, dir, splits.train, 'Segmentation');
  const test = await readSplit(ctx, dir, splits.test, 'Segmentation');
  const jpegs = path.join(dir, 'JPEGImages');
  const masks = path.join(dir, 'SegmentationClass');
  for (const folder of [jpegs, masks]) {
    if (!(await exists(folder))) {
      throw new AnnotationError(dir, undefined, `a folder ${path.basename(folder)}`, 'none', 'NOT_FOUND');
    }
    if (ctx.roots !== undefined) await ctx.roots.check(ctx.uri, folder);
  }
  // An id in both splits (train=trainval, test=val) is read once.
  const cache = new Map<string, Promise<SegmentationImage>>();
  const load = (split: { file: string; ids: string[] }): Promise<SegmentationImage[]> =>
    mapPool(split.ids, (id, i) => {
      let image = cache.get(id);
      if (image === undefined) {
        image = segmentationImage(
          ctx,
          id,
          { image: path.join(jpegs, `${id}.jpg`), mask: path.join(masks, `${id}.png`) },
          { file: split.file, location: `line ${i + 1}` },
        );
        cache.set(id, image);
      }
      return image;
    });
  return { classNames, train: await load(train), test: await load(test) };
}
