// The training service process: the job database in the state directory, the training queue,
// the gRPC server with TrainingService, health, reflection and metrics.
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
import { JobStore, toDomainError } from '@rnas/jobs';
import { TrainingServiceService } from '@rnas/proto';
import type { TrainingServiceConfig } from './config';
import { TrainingMetrics } from './metrics';
import { TrainingJobs } from './training-jobs';
import { resolveStartTraining } from './training-request';

/** The job database file in the state directory. */
export const TRAINING_DATABASE = 'training.db';

export interface TrainingServiceOptions {
  /** Where logs go [a JSON logger on stdout at the configured level]. */
  logger?: Logger;
  /** Signals that start a drain [SIGTERM, SIGINT]; tests pass []. */
  shutdownSignals?: readonly NodeJS.Signals[];
  /** The compiled training worker [dist/training-worker.js of this package]. */
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
  /** Drains the server, stops the running trainings (they resume at the next start), closes the database. */
  close(): Promise<void>;
}

/** Where the compiled worker lives, from this module's own location (dist/ or, under jest, src/). */
export function defaultTrainingWorkerScript(): string {
  if (__filename.endsWith('.js')) return path.join(__dirname, 'training-worker.js');
  return path.resolve(__dirname, '..', 'dist', 'training-worker.js');
}

function handlers(
  trainings: TrainingJobs,
  config: TrainingServiceConfig,
): ServiceHandlers<typeof TrainingServiceService> {
  const limits = { dataRoots: config.dataRoots, searchStateDir: config.searchStateDir };
  const mapped = async <T>(work: () => T | Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      throw toDomainError(err, 'training');
    }
  };
  return {
    startTraining: (request) =>
      mapped(async () => ({ training: trainings.start(await resolveStartTraining(request, limits)) })),
    getTraining: (request) => mapped(() => ({ training: trainings.get(request.trainingId) })),
    listTrainings: (request) => mapped(() => trainings.list(request)),
    cancelTraining: (request) => mapped(() => ({ training: trainings.cancel(request.trainingId) })),
    watchTraining: async function* (request, context) {
      try {
        yield* trainings.watch(request.trainingId, request.afterSequence, context.signal);
      } catch (err) {
        throw toDomainError(err, 'training');
      }
    },
  };
}

/**
 * Starts the training service: opens (or creates) the job database, resumes the trainings that
 * were running, and serves. The returned service is ready: health reports SERVING.
 */
export async function startTrainingService(
  config: TrainingServiceConfig,
  options: TrainingServiceOptions = {},
): Promise<RunningService> {
  const logger = options.logger ?? createLogger({ service: 'training', level: config.logLevel });
  const backend = await initBackend();
  logger.info({ backend: backend.name, detail: backend.detail }, 'engine backend');
  ensureDirectory(config.modelRepo);
  const store = JobStore.open(path.join(ensureDirectory(config.stateDir), TRAINING_DATABASE));
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
  const metrics: TrainingMetrics = new TrainingMetrics(server.metrics.registry, () => jobs.countByState());
  const jobs: TrainingJobs = new TrainingJobs({
    store,
    stateDir: config.stateDir,
    modelRepo: config.modelRepo,
    dataRoots: config.dataRoots,
    maxRunning: config.maxRunning,
    backend,
    workerScript: options.workerScript ?? defaultTrainingWorkerScript(),
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
  server.addService(TrainingServiceService, handlers(jobs, config), { ready: false });
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
  server.setServing(serviceName(TrainingServiceService), true);
  return {
    port: ports.port,
    metricsPort: ports.metricsPort,
    server,
    closed,
    close: () => server.shutdown(),
  };
}
