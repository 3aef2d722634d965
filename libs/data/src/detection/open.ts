import * as path from 'node:path';
import { DataError, invalidArgument } from '../errors';
import { DEFAULT_MAX_FILE_BYTES, type LoadContext } from '../files';
import type { OpenDatasetOptions } from '../dataset';
import { DataRoots } from '../sandbox';
import {
  datasetPaths,
  isDetectionScheme,
  parseDatasetUri,
  schemeTask,
  vocSplitParam,
  type DatasetUri,
} from '../uri';
import { loadCoco, type CocoSplit } from './coco';
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
      `dataset URI ${JSON.stringify(uri)}: expected a detection dataset (voc: or coco:), got a ${parsed.scheme}: ${schemeTask(parsed.scheme)} dataset`,
    );
  }
  const { ctx, roots } = await loadContext(uri, parsed, options);
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
    const splits = await cocoSplits(uri, parsed, roots);
    name = splits.name;
    loaded = await loadCoco(ctx, splits.train, splits.test);
  }
  return { uri, name, format: parsed.scheme, ...loaded };
}

/**
 * What every annotated-dataset loader needs once the URI has parsed: `maxFileBytes` checked, every
 * query parameter checked (before the file system is touched) and the data roots opened.
 */
export async function loadContext(
  uri: string,
  parsed: DatasetUri,
  options: OpenDatasetOptions,
): Promise<{ ctx: LoadContext; roots: DataRoots }> {
  const maxFileBytes = options?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) {
    throw invalidArgument('maxFileBytes', maxFileBytes, 'a positive integer');
  }
  datasetPaths(parsed);
  const roots = await DataRoots.create(options?.dataRoots ?? []);
  return { ctx: { uri, roots, maxFileBytes }, roots };
}

/**
 * The two JSON files and image folders a `coco:` or `coco-keypoints:` URI names, resolved under
 * the data roots; image folders default to the folder holding each JSON. The dataset is named
 * after the training JSON.
 */
export async function cocoSplits(
  uri: string,
  parsed: DatasetUri,
  roots: DataRoots,
): Promise<{ name: string; train: CocoSplit; test: CocoSplit }> {
  const resolved = new Map<string, string>();
  for (const p of datasetPaths(parsed)) {
    resolved.set(
      p.field,
      p.kind === 'file' ? await roots.resolveFile(uri, p.path) : await roots.resolveDirectory(uri, p.path),
    );
  }
  const json = resolved.get('path') as string;
  const testJson = resolved.get('test') as string;
  return {
    name: path.basename(json, '.json'),
    train: { json, images: resolved.get('images') ?? path.dirname(json) },
    test: { json: testJson, images: resolved.get('test_images') ?? path.dirname(testJson) },
  };
}
