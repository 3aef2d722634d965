import { DataError } from '../errors';
import type { OpenDatasetOptions } from '../dataset';
import { cocoSplits, loadContext } from '../detection/open';
import { isKeypointScheme, parseDatasetUri, schemeTask } from '../uri';
import { loadCocoKeypoints } from './coco';
import type { KeypointDataset } from './types';

/**
 * Opens a keypoint dataset by URI
 * (`coco-keypoints:<train json>?images=<dir>&test=<val json>&test_images=<dir>`, image folders
 * defaulting to each JSON's folder), under `dataRoots` like every file-backed dataset. Every
 * annotation is parsed and every image file checked to exist now, so a bad dataset fails here,
 * naming the file and the annotation, and not during training.
 */
export async function openKeypointDataset(
  uri: string,
  options: OpenDatasetOptions,
): Promise<KeypointDataset> {
  const parsed = parseDatasetUri(uri);
  if (!isKeypointScheme(parsed.scheme)) {
    throw new DataError(
      'INVALID_ARGUMENT',
      `dataset URI ${JSON.stringify(uri)}: expected a keypoint dataset (coco-keypoints:), got a ${parsed.scheme}: ${schemeTask(parsed.scheme)} dataset`,
    );
  }
  const { ctx, roots } = await loadContext(uri, parsed, options);
  const splits = await cocoSplits(uri, parsed, roots);
  const loaded = await loadCocoKeypoints(ctx, splits.train, splits.test);
  return { uri, name: splits.name, format: parsed.scheme, ...loaded };
}
