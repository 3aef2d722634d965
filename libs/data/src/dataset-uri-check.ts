// The dataset URI of a job request, checked when the job is accepted: well formed, every query
// parameter of its scheme known, given once and in range (parseDatasetUri), and its paths
// under the service's data roots (synthetic datasets have none; a coco: URI names JSON files and
// image folders). A bad URI is a DatasetUriError
// that says, structured, what the field must be and what it got.
import { resolveDirectoryUnderRoots, resolveFileUnderRoots, PathNotAllowedError } from './roots';
import { datasetPaths, parseDatasetUri, type DatasetPath } from './uri';

/** The longest dataset URI a request may carry. */
export const MAX_DATASET_URI_CHARS = 4096;

/** A request's dataset URI that cannot be used; `path`, `expected` and `got` say why. */
export class DatasetUriError extends Error {
  readonly path: readonly string[];

  constructor(
    field: string,
    readonly got: unknown,
    readonly expected: string,
  ) {
    super(`${field}: expected ${expected}`);
    this.name = 'DatasetUriError';
    this.path = [field];
  }
}

/**
 * The URI, once it parses and names a directory under `dataRoots`; a DatasetUriError otherwise.
 * `field` names the request field in the error [datasetUri].
 */
export async function checkDatasetUri(
  uri: unknown,
  dataRoots: readonly string[],
  field = 'datasetUri',
): Promise<string> {
  if (typeof uri !== 'string' || uri === '') throw new DatasetUriError(field, uri, 'a dataset URI');
  if (uri.length > MAX_DATASET_URI_CHARS) {
    throw new DatasetUriError(field, uri, `a dataset URI of at most ${MAX_DATASET_URI_CHARS} characters`);
  }
  let paths: DatasetPath[];
  try {
    paths = datasetPaths(parseDatasetUri(uri));
  } catch (err) {
    throw new DatasetUriError(field, uri, `a dataset URI (${(err as Error).message})`);
  }
  for (const p of paths) {
    try {
      if (p.kind === 'file') await resolveFileUnderRoots(p.path, dataRoots);
      else await resolveDirectoryUnderRoots(p.path, dataRoots);
    } catch (err) {
      if (err instanceof PathNotAllowedError) {
        const which = p.field === 'path' ? '' : `query parameter ${p.field}: `;
        throw new DatasetUriError(field, uri, `a dataset under the data roots (${which}${err.message})`);
      }
      throw err;
    }
  }
  return uri;
}
