// The search service: SearchService over the job-service kit (libs/jobs startJobService), which
// owns the bootstrap, health, reflection, metrics and the drain. What is the search's own: its
// handlers, its jobs (search-jobs.ts) and its worker (search-worker.ts).
import { initBackend, tf } from '@rnas/engine';
import { peerSettings, type ServiceHandlers } from '@rnas/grpc';
import {
  afterSequence,
  jobCalls,
  jobDatabaseName,
  startJobService,
  type JobServiceOptions,
  type JobServiceSpec,
  type RunningJobService,
} from '@rnas/jobs';
import { workerScript } from '@rnas/workers';
import { SearchServiceService } from '@rnas/proto';
import type { SearchServiceConfig } from './config';
import { SearchMetrics } from './metrics';
import { SearchJobs } from './search-jobs';
import { resolveStartSearch } from './search-request';

/** The job database file in the state directory. */
export const SEARCH_DATABASE = jobDatabaseName('search');

export type SearchServiceOptions = JobServiceOptions;
export type RunningService = RunningJobService<SearchJobs>;

/** The compiled worker (dist/search-worker.js of this package, also under jest). */
export const defaultSearchWorkerScript = (): string => workerScript(__filename, 'search-worker.js');

function handlers(
  searches: SearchJobs,
  config: SearchServiceConfig,
): ServiceHandlers<typeof SearchServiceService> {
  const limits = {
    maxWorkers: config.maxWorkers,
    dataRoots: config.dataRoots,
    maxBudget: config.maxSearchBudget,
  };
  const call = jobCalls('search');
  return {
    // The quota is checked before the request is validated (a refused caller costs nothing), and
    // again in the transaction that stores the search (concurrent starts cannot exceed it).
    startSearch: (request, { principal }) =>
      call.unary(async () => {
        searches.admit(principal);
        return { search: searches.start(principal, await resolveStartSearch(request, limits)) };
      }),
    getSearch: (request, { principal }) =>
      call.unary(() => ({ search: searches.get(principal, request.searchId) })),
    listSearches: (request, { principal }) => call.unary(() => searches.list(principal, request)),
    cancelSearch: (request, { principal }) =>
      call.unary(() => ({ search: searches.cancel(principal, request.searchId) })),
    watchSearch: (request, { principal, signal }) =>
      call.stream(() =>
        searches.watch(principal, request.searchId, afterSequence(request.afterSequence), signal),
      ),
  };
}

const SEARCH_SERVICE: JobServiceSpec<
  SearchServiceConfig,
  SearchJobs,
  typeof SearchServiceService,
  Awaited<ReturnType<typeof initBackend>>
> = {
  name: 'search',
  plural: 'Searches',
  definition: SearchServiceService,
  engine: { init: () => initBackend(), memory: () => tf.memory() },
  workerScript: defaultSearchWorkerScript(),
  jobs: ({ config, store, backend, logger, registry, workerMemory, workerScript }) =>
    new SearchJobs({
      store,
      stateDir: config.stateDir,
      dataRoots: config.dataRoots,
      maxDatasetFileBytes: config.maxDatasetFileBytes,
      maxRunning: config.maxRunning,
      maxJobsPerSubject: config.maxJobsPerSubject,
      backend,
      workerScript,
      metrics: new SearchMetrics(registry, workerMemory),
      logger,
      evaluators: config.evaluators,
      evaluatorDeadlineMs: config.evaluatorDeadlineMs,
      maxMessageBytes: config.maxMessageBytes,
      peer: peerSettings(config),
    }),
  handlers,
};

/**
 * Starts the search service: opens (or creates) the job database, resumes the searches that were
 * running, and serves. The returned service is ready: health reports SERVING.
 */
export function startSearchService(
  config: SearchServiceConfig,
  options: SearchServiceOptions = {},
): Promise<RunningService> {
  return startJobService(SEARCH_SERVICE, config, options);
}
