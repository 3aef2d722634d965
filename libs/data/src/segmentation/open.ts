import * as path from 'node:path';
import { DataError, invalidArgument } from '../errors';
import { DEFAULT_MAX_FILE_BYTES, type LoadContext } from '../files';
import type { OpenDatasetOptions } from '../dataset';
import { DataRoots } from '../sandbox';
import { datasetPaths, isSegmentationScheme, parseDatasetUri, vocSplitParam } from '../uri';
import { loadCityscapes } from './cityscapes';
import type { SegmentationDataset } from './types';
import { loadVocSegmentation } from './voc';

/**
 * Opens a segmentation dataset by URI (`voc-seg:` or `cityscapes:`, see uri.ts), under `dataRoots`
 * like every file-backed dataset. Every listed image and label map is checked to exist, to be
 * within `maxFileBytes` and to have matching sizes now, so a bad dataset fails here, naming the
 * file and the line or id; label values are checked as each sample is decoded.
 */
export async function openSegmentationDataset(
  uri: string,
  options: OpenDatasetOptions,
): Promise<SegmentationDataset> {
  const parsed = parseDatasetUri(uri);
  if (!isSegmentationScheme(parsed.scheme)) {
    throw new DataError(
      'INVALID_ARGUMENT',
      `dataset URI ${JSON.stringify(uri)}: expected a segmentation dataset (voc-seg: or cityscapes:), got a ${parsed.scheme}: dataset`,
    );
  }
  const maxFileBytes = options?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) {
    throw invalidArgument('maxFileBytes', maxFileBytes, 'a positive integer');
  }
  // Every query parameter is checked before the file system is touched.
  datasetPaths(parsed);
  const splits = {
    train: vocSplitParam(parsed, 'train', 'train'),
    test: vocSplitParam(parsed, 'test', 'val'),
  };
  const roots = await DataRoots.create(options?.dataRoots ?? []);
  const ctx: LoadContext = { uri, roots, maxFileBytes };
  const dir = await roots.resolveDirectory(uri, parsed.path);
  const loaded =
    parsed.scheme === 'voc-seg'
      ? await loadVocSegmentation(ctx, dir, splits)
      : await loadCityscapes(ctx, dir, splits);
  return { uri, name: path.basename(dir), format: parsed.scheme, ...loaded };
}
