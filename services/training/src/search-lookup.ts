// StartTraining with a search id: the genotype a succeeded search found. The search service keeps
// its jobs in `<state dir>/search.db` and each search's artefacts in `<state dir>/searches/<id>/`
// (genotype.json is its result); this reads both, never writes, and so works while the search
// service runs. Without the database (a search directory copied from elsewhere) genotype.json
// alone is taken as the result.
import { existsSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@rnas/grpc';
import { jobDatabaseName, JobStore } from '@rnas/jobs';
import { genotypeFromJson, type Genotype } from '@rnas/nas';

/** The search service's job database and artefacts folder in its state directory. */
export const SEARCH_DATABASE = jobDatabaseName('search');
export const SEARCHES_DIRECTORY = 'searches';

/** Search ids are UUIDs; this also keeps any id from naming a path outside the searches folder. */
const SEARCH_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** A genotype file is a few hundred bytes; anything far larger is not one. */
const MAX_GENOTYPE_BYTES = 1024 * 1024;

/** The genotype of a succeeded search; NOT_FOUND, FAILED_PRECONDITION otherwise. */
export async function searchGenotype(searchStateDir: string, searchId: string): Promise<Genotype> {
  if (searchId === '') throw new InvalidArgumentError('search_id', searchId, 'a search id is required');
  if (!SEARCH_ID.test(searchId)) throw new NotFoundError('search', searchId);
  const database = path.join(searchStateDir, SEARCH_DATABASE);
  if (existsSync(database)) {
    const store = JobStore.open(database, { readonly: true });
    try {
      const job = store.kind('search').find(searchId);
      if (job === undefined) throw new NotFoundError('search', searchId);
      if (job.state !== 'succeeded') {
        throw new FailedPreconditionError(
          `search ${JSON.stringify(searchId)} is ${job.state}; only a succeeded search can be trained`,
        );
      }
    } finally {
      store.close();
    }
  }
  const file = path.join(searchStateDir, SEARCHES_DIRECTORY, searchId, 'genotype.json');
  let text: string;
  try {
    const info = await lstat(file);
    if (!info.isFile() || info.size > MAX_GENOTYPE_BYTES) {
      throw new FailedPreconditionError(`search ${JSON.stringify(searchId)}: ${file} is not a genotype file`);
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (existsSync(database)) {
        throw new FailedPreconditionError(
          `search ${JSON.stringify(searchId)} succeeded but ${file} is missing`,
        );
      }
      throw new NotFoundError('search', searchId);
    }
    throw err;
  }
  try {
    return genotypeFromJson(JSON.parse(text) as unknown, `search ${searchId} result ${file}`);
  } catch (err) {
    throw new FailedPreconditionError(`search ${JSON.stringify(searchId)}: ${(err as Error).message}`);
  }
}
