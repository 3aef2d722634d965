// Shared by this package's tests (not built, not exported): building the worker, a tiny search
// on a synthetic image folder, and promise wrappers around the generated gRPC client.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { createLogger, type Logger } from '@rnas/grpc';
import { writeSyntheticDataset } from '@rnas/data';
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
export function buildService(): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'services/search'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

/** A temporary directory holding a data root with a 3-class 8x8 grey image folder of shapes. */
export async function tinyDataRoot(): Promise<{ dir: string; dataRoot: string; datasetUri: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rnas-search-service-'));
  const dataRoot = path.join(dir, 'data');
  await writeSyntheticDataset(path.join(dataRoot, 'shapes'), {
    format: 'imagefolder',
    train: 48,
    test: 6,
    seed: 5,
    size: 8,
    channels: 1,
    classes: 3,
    imageFormats: ['png'],
  });
  return { dir, dataRoot, datasetUri: `imagefolder:${path.join(dataRoot, 'shapes')}?size=8&channels=1` };
}

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
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ service: 'search', level: 'info', destination }), lines };
}

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

/** The status error of a call that must fail. */
export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}
