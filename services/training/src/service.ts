// The training service: TrainingService over the job-service kit (libs/jobs startJobService), which
// owns the bootstrap, health, reflection, metrics and the drain. What is the training's own: its
// handlers, its jobs (training-jobs.ts) and its worker (training-worker.ts).
import { initBackend, tf } from '@rnas/engine';
import type { ServiceHandlers } from '@rnas/grpc';
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
  const limits = {
    dataRoots: config.dataRoots,
    searchGenotype: (searchId: string) => trainings.searches.genotype(searchId),
  };
  const call = jobCalls('training');
  return {
    startTraining: (request) =>
      call.unary(async () => ({ training: trainings.start(await resolveStartTraining(request, limits)) })),
    getTraining: (request) => call.unary(() => ({ training: trainings.get(request.trainingId) })),
    listTrainings: (request) => call.unary(() => trainings.list(request)),
    cancelTraining: (request) => call.unary(() => ({ training: trainings.cancel(request.trainingId) })),
    watchTraining: (request, context) =>
      call.stream(() =>
        trainings.watch(request.trainingId, afterSequence(request.afterSequence), context.signal),
      ),
    evaluatePair: (request) => call.unary(() => trainings.evaluations.evaluate(request)),
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
      backend,
      workerScript,
      metrics: new TrainingMetrics(registry, workerMemory),
      logger,
      evaluatorThreads: config.evaluatorThreads,
      searches: new SearchLookup(config.searchAddr),
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
