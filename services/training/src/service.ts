// The training service: TrainingService over the job-service kit (libs/jobs startJobService), which
// owns the bootstrap, health, reflection, metrics and the drain. What is the training's own: its
// handlers, its jobs (training-jobs.ts) and its worker (training-worker.ts).
import { initBackend, tf } from '@rnas/engine';
import {
  PeerCredentials,
  peerSettings,
  PermissionDeniedError,
  type Principal,
  type ServiceHandlers,
} from '@rnas/grpc';
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
import { TrainingServiceService } from '@rnas/proto';
import type { TrainingServiceConfig } from './config';
import { TrainingMetrics } from './metrics';
import { SearchLookup } from './search-lookup';
import { TrainingJobs } from './training-jobs';
import { resolveStartTraining } from './training-request';

/** The job database file in the state directory. */
export const TRAINING_DATABASE = jobDatabaseName('training');

export type TrainingServiceOptions = JobServiceOptions;
export type RunningService = RunningJobService<TrainingJobs>;

/** The compiled worker (dist/training-worker.js of this package, also under jest). */
export const defaultTrainingWorkerScript = (): string => workerScript(__filename, 'training-worker.js');

function handlers(
  trainings: TrainingJobs,
  config: TrainingServiceConfig,
): ServiceHandlers<typeof TrainingServiceService> {
  // A search is looked up for the caller: one they may not see is NOT_FOUND, as an unknown id.
  const limits = (caller: Principal) => ({
    dataRoots: config.dataRoots,
    searchGenotype: (searchId: string) => trainings.searches.genotype(searchId, caller),
  });
  const call = jobCalls('training');
  return {
    // The quota is checked before the request is validated (which may ask the search service),
    // and again in the transaction that stores the training (concurrent starts cannot exceed it).
    startTraining: (request, { principal }) =>
      call.unary(async () => {
        trainings.admit(principal);
        return {
          training: trainings.start(principal, await resolveStartTraining(request, limits(principal))),
        };
      }),
    getTraining: (request, { principal }) =>
      call.unary(() => ({ training: trainings.get(principal, request.trainingId) })),
    listTrainings: (request, { principal }) => call.unary(() => trainings.list(principal, request)),
    cancelTraining: (request, { principal }) =>
      call.unary(() => ({ training: trainings.cancel(principal, request.trainingId) })),
    watchTraining: (request, { principal, signal }) =>
      call.stream(() =>
        trainings.watch(principal, request.trainingId, afterSequence(request.afterSequence), signal),
      ),
    // Only search services call it (with their --peer-token-file, an admin's): a user calling it
    // directly would spend this replica's compute past every search quota and budget.
    evaluatePair: (request, { principal }) =>
      call.unary(() => {
        if (principal.role !== 'admin') {
          throw new PermissionDeniedError(
            `EvaluatePair is for search services: ${JSON.stringify(principal.subject)} is not an admin`,
          );
        }
        return trainings.evaluations.evaluate(request);
      }),
  };
}

const TRAINING_SERVICE: JobServiceSpec<
  TrainingServiceConfig,
  TrainingJobs,
  typeof TrainingServiceService,
  Awaited<ReturnType<typeof initBackend>>
> = {
  name: 'training',
  plural: 'Trainings',
  definition: TrainingServiceService,
  engine: { init: () => initBackend(), memory: () => tf.memory() },
  workerScript: defaultTrainingWorkerScript(),
  directories: (config) => [config.modelRepo],
  jobs: ({ config, store, backend, logger, registry, workerMemory, workerScript }) =>
    new TrainingJobs({
      store,
      stateDir: config.stateDir,
      modelRepo: config.modelRepo,
      dataRoots: config.dataRoots,
      maxDatasetFileBytes: config.maxDatasetFileBytes,
      maxRunning: config.maxRunning,
      maxJobsPerSubject: config.maxJobsPerSubject,
      backend,
      workerScript,
      metrics: new TrainingMetrics(registry, workerMemory),
      logger,
      evaluatorThreads: config.evaluatorThreads,
      searches: new SearchLookup(
        config.searchAddr,
        new PeerCredentials(peerSettings(config), (problem) =>
          logger.error({ problem }, 'peer credentials changed but cannot be used'),
        ),
      ),
    }),
  handlers,
};

/**
 * Starts the training service: opens (or creates) the job database, resumes the trainings that
 * were running, and serves. The returned service is ready: health reports SERVING.
 */
export function startTrainingService(
  config: TrainingServiceConfig,
  options: TrainingServiceOptions = {},
): Promise<RunningService> {
  return startJobService(TRAINING_SERVICE, config, options);
}
