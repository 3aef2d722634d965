// Shared by this package's tests (not built, not exported): building the worker, a tiny search
// on a synthetic image folder, and promise wrappers around the generated gRPC client.
import * as path from 'node:path';
import {
  buildPackage,
  collectStream,
  createClient,
  memoryLogger as sharedMemoryLogger,
  type PromiseClient,
} from '@rnas/grpc';
import { temporaryDataRoot, type TemporaryDataRoot } from '@rnas/data';
import {
  SearchServiceService,
  SearchStrategy,
  type SearchConfig,
  type WatchSearchResponse,
} from '@rnas/proto';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Searches run compiled workers (dist/): build this package and what it uses (incremental). */
export const buildService = (): void => buildPackage(ROOT, 'services/search');

/** A temporary directory holding a data root with a 3-class 8x8 grey image folder of shapes. */
export const tinyDataRoot = (): Promise<TemporaryDataRoot> =>
  temporaryDataRoot('rnas-search-service-', { train: 48, test: 6, seed: 5 });

/** A whole search in seconds: 4 members, 3 cells, 4 channels, cheap ops, a few images. */
export function tinyConfig(overrides: Partial<SearchConfig> = {}): SearchConfig {
  return {
    strategy: SearchStrategy.SEARCH_STRATEGY_RELATIVENAS,
    population: 4,
    generations: 2,
    layers: 3,
    channels: 4,
    batchSize: 8,
    trainImages: 16,
    valImages: 8,
    cutout: 4,
    primitives: ['max_pool_3x3', 'skip_connect', 'sep_conv_3x3'],
    workers: 1,
    ...overrides,
  };
}

/** A logger whose lines land in an array (JSON objects), so tests stay quiet and can read them. */
export const memoryLogger = (): ReturnType<typeof sharedMemoryLogger> => sharedMemoryLogger('search');

/** A search client, with `watchAll`: every message of a WatchSearch stream until it ends. */
export type SearchClient = PromiseClient<typeof SearchServiceService> & {
  watchAll(
    searchId: string,
    afterSequence?: number | string,
    onMessage?: (m: WatchSearchResponse) => void,
  ): Promise<WatchSearchResponse[]>;
};

export function searchClient(port: number): SearchClient {
  const client = createClient(SearchServiceService, `127.0.0.1:${port}`);
  return Object.assign(client, {
    watchAll: (
      searchId: string,
      afterSequence: number | string = 0,
      onMessage?: (m: WatchSearchResponse) => void,
    ) => collectStream(client.watchSearch({ searchId, afterSequence: String(afterSequence) }), onMessage),
  });
}

export { callFailure as failure } from '@rnas/grpc';
