import * as path from 'node:path';
import { DataError, invalidArgument } from '../errors';
import { DEFAULT_MAX_FILE_BYTES, type LoadContext } from '../files';
import type { OpenDatasetOptions } from '../dataset';
import { DataRoots } from '../sandbox';
import { datasetPaths, isDetectionScheme, parseDatasetUri, vocSplitParam } from '../uri';
import { loadCoco } from './coco';
import type { DetectionDataset, LoadedDetection } from './types';
import { loadVoc } from './voc';

/**
 * Opens a detection dataset by URI (`voc:` or `coco:`, see uri.ts), under `dataRoots` like every
 * file-backed dataset. Every annotation is parsed and every image file checked to exist now, so a
 * bad dataset fails here, naming the file and the line or id, and not during training.
 */
export async function openDetectionDataset(
  uri: string,
  options: OpenDatasetOptions,
): Promise<DetectionDataset> {
  const parsed = parseDatasetUri(uri);
  if (!isDetectionScheme(parsed.scheme)) {
    throw new DataError(
      'INVALID_ARGUMENT',
      `dataset URI ${JSON.stringify(uri)}: expected a detection dataset (voc: or coco:), got a ${parsed.scheme}: classification dataset`,
    );
  }
  const maxFileBytes = options?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) {
    throw invalidArgument('maxFileBytes', maxFileBytes, 'a positive integer');
  }
  // Every query parameter is checked before the file system is touched.
  const paths = datasetPaths(parsed);
  const roots = await DataRoots.create(options?.dataRoots ?? []);
  const ctx: LoadContext = { uri, roots, maxFileBytes };
  let loaded: LoadedDetection;
  let name: string;
  if (parsed.scheme === 'voc') {
    const dir = await roots.resolveDirectory(uri, parsed.path);
    name = path.basename(dir);
    loaded = await loadVoc(ctx, dir, {
      train: vocSplitParam(parsed, 'train', 'train'),
      test: vocSplitParam(parsed, 'test', 'val'),
    });
  } else {
    const resolved = new Map<string, string>();
    for (const p of paths) {
      resolved.set(
        p.field,
        p.kind === 'file' ? await roots.resolveFile(uri, p.path) : await roots.resolveDirectory(uri, p.path),
      );
    }
    const json = resolved.get('path') as string;
    const testJson = resolved.get('test') as string;
    name = path.basename(json, '.json');
    loaded = await loadCoco(
      ctx,
      { json, images: resolved.get('images') ?? path.dirname(json) },
      { json: testJson, images: resolved.get('test_images') ?? path.dirname(testJson) },
    );
  }
  return { uri, name, format: parsed.scheme, ...loaded };
}
