// Shared by this package's tests (not built, not exported): building the worker, a tiny search
// on a synthetic image folder, and promise wrappers around the generated gRPC client.
import * as path from 'node:path';
import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { buildPackage, memoryLogger as sharedMemoryLogger } from '@rnas/grpc';
import { temporaryDataRoot, type TemporaryDataRoot } from '@rnas/data';
import {
  SearchServiceClient,
  SearchStrategy,
  type CancelSearchRequest,
  type CancelSearchResponse,
  type GetSearchRequest,
  type GetSearchResponse,
  type ListSearchesRequest,
  type ListSearchesResponse,
  type SearchConfig,
  type StartSearchRequest,
  type StartSearchResponse,
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

type Unary<Req, Res> = (
  request: Req,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** The search client with promise-returning unary calls. */
export class SearchClient {
  readonly raw: SearchServiceClient;

  constructor(port: number, options: Record<string, number> = {}) {
    this.raw = new SearchServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), options);
  }

  startSearch(request: StartSearchRequest): Promise<StartSearchResponse> {
    return this.unary(this.raw.startSearch, request);
  }

  getSearch(request: GetSearchRequest): Promise<GetSearchResponse> {
    return this.unary(this.raw.getSearch, request);
  }

  listSearches(request: ListSearchesRequest): Promise<ListSearchesResponse> {
    return this.unary(this.raw.listSearches, request);
  }

  cancelSearch(request: CancelSearchRequest): Promise<CancelSearchResponse> {
    return this.unary(this.raw.cancelSearch, request);
  }

  private unary<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.raw, request, (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  /** Every message of a WatchSearch stream until it ends (or fails: then rejects with the status). */
  watchAll(
    searchId: string,
    afterSequence = 0,
    onMessage?: (m: WatchSearchResponse) => void,
  ): Promise<WatchSearchResponse[]> {
    const stream: ClientReadableStream<WatchSearchResponse> = this.raw.watchSearch({
      searchId,
      afterSequence,
    });
    const messages: WatchSearchResponse[] = [];
    return new Promise((resolve, reject) => {
      stream.on('data', (m: WatchSearchResponse) => {
        messages.push(m);
        onMessage?.(m);
      });
      stream.on('end', () => resolve(messages));
      stream.on('error', reject);
    });
  }

  close(): void {
    this.raw.close();
  }
}

export { callFailure as failure } from '@rnas/grpc';
