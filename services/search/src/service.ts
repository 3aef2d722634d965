// The search service process: the job database in the state directory, the search queue, the
// gRPC server with SearchService, health, reflection and metrics.
import * as path from 'node:path';
import { initBackend, tf } from '@rnas/engine';
import {
  createLogger,
  ensureDirectory,
  createServer,
  serviceName,
  type GrpcServer,
  type Logger,
  type ServiceHandlers,
} from '@rnas/grpc';
import { JobStore } from '@rnas/jobs';
import { SearchServiceService } from '@rnas/proto';
import type { SearchServiceConfig } from './config';
import { toDomainError } from '@rnas/jobs';
import { SearchMetrics } from './metrics';
import { SearchJobs } from './search-jobs';
import { resolveStartSearch } from './search-request';

/** The job database file in the state directory. */
export const SEARCH_DATABASE = 'search.db';

export interface SearchServiceOptions {
  /** Where logs go [a JSON logger on stdout at the configured level]. */
  logger?: Logger;
  /** Signals that start a drain [SIGTERM, SIGINT]; tests pass []. */
  shutdownSignals?: readonly NodeJS.Signals[];
  /** The compiled search worker [dist/search-worker.js of this package]. */
  workerScript?: string;
}

export interface RunningService {
  /** The gRPC port bound. */
  port: number;
  /** The metrics port bound, when there is an endpoint. */
  metricsPort: number | undefined;
  server: GrpcServer;
  /** Resolves once the service has drained and closed (after close() or a signal). */
  closed: Promise<void>;
  /** Drains the server, stops the running searches (they resume at the next start), closes the database. */
  close(): Promise<void>;
}

/** Where the compiled worker lives, from this module's own location (dist/ or, under jest, src/). */
export function defaultSearchWorkerScript(): string {
  if (__filename.endsWith('.js')) return path.join(__dirname, 'search-worker.js');
  return path.resolve(__dirname, '..', 'dist', 'search-worker.js');
}

function handlers(
  searches: SearchJobs,
  config: SearchServiceConfig,
): ServiceHandlers<typeof SearchServiceService> {
  const limits = { maxWorkers: config.maxWorkers, dataRoots: config.dataRoots };
  const mapped = async <T>(work: () => T | Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      throw toDomainError(err, 'search');
    }
  };
  return {
    startSearch: (request) =>
      mapped(async () => ({ search: searches.start(await resolveStartSearch(request, limits)) })),
    getSearch: (request) => mapped(() => ({ search: searches.get(request.searchId) })),
    listSearches: (request) => mapped(() => searches.list(request)),
    cancelSearch: (request) => mapped(() => ({ search: searches.cancel(request.searchId) })),
    watchSearch: async function* (request, context) {
      try {
        yield* searches.watch(request.searchId, request.afterSequence, context.signal);
      } catch (err) {
        throw toDomainError(err, 'search');
      }
    },
  };
}

/**
 * Starts the search service: opens (or creates) the job database, resumes the searches that were
 * running, and serves. The returned service is ready: health reports SERVING.
 */
export async function startSearchService(
  config: SearchServiceConfig,
  options: SearchServiceOptions = {},
): Promise<RunningService> {
  const logger = options.logger ?? createLogger({ service: 'search', level: config.logLevel });
  const backend = await initBackend();
  logger.info({ backend: backend.name, detail: backend.detail }, 'engine backend');
  const store = JobStore.open(path.join(ensureDirectory(config.stateDir), SEARCH_DATABASE));
  const server = createServer({
    host: config.host,
    port: config.port,
    metricsPort: config.metricsPort,
    maxReceiveMessageBytes: config.maxMessageBytes,
    maxSendMessageBytes: config.maxMessageBytes,
    shutdownGraceMs: config.shutdownGraceMs,
    shutdownSignals: options.shutdownSignals,
    logger,
  });
  // Read at scrape time, when `jobs` exists.
  const metrics: SearchMetrics = new SearchMetrics(server.metrics.registry, () => jobs.countByState());
  const jobs: SearchJobs = new SearchJobs({
    store,
    stateDir: config.stateDir,
    dataRoots: config.dataRoots,
    maxRunning: config.maxRunning,
    backend,
    workerScript: options.workerScript ?? defaultSearchWorkerScript(),
    metrics,
    logger,
  });
  server.metrics.trackTfjsMemory(() => {
    const workers = metrics.totalWorkerMemory();
    const own = tf.memory();
    return {
      numTensors: workers.numTensors + own.numTensors,
      numBytes: workers.numBytes + own.numBytes,
      numDataBuffers: workers.numDataBuffers + own.numDataBuffers,
    };
  }, backend.name);
  server.addService(SearchServiceService, handlers(jobs, config), { ready: false });
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  server.onShutdown(() => jobs.close());
  server.onShutdown(() => store.close());
  server.onShutdown(() => markClosed());
  let ports;
  try {
    ports = await server.start();
  } catch (err) {
    await jobs.close();
    store.close();
    throw err;
  }
  jobs.recover();
  server.setServing(serviceName(SearchServiceService), true);
  return {
    port: ports.port,
    metricsPort: ports.metricsPort,
    server,
    closed,
    close: () => server.shutdown(),
  };
}
