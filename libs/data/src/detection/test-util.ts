// Shared by the VOC and COCO tests: the DataError an open fails with.
import type { OpenDatasetOptions } from '../dataset';
import { DataError } from '../errors';
import { openDetectionDataset } from './open';

export async function openFailure(uri: string, options: OpenDatasetOptions): Promise<DataError> {
  const err = await openDetectionDataset(uri, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataError)) throw new Error(`expected a DataError for ${uri}, got ${String(err)}`);
  return err;
}
