import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { BackendInfo, BackendName } from '@rnas/engine';
import {
  createLogger,
  ensureDirectory,
  createServer,
  serviceServerOptions,
  serviceName,
  serviceMain,
  type GrpcServer,
  type Logger,
} from '@rnas/grpc';
import { GRPCInferenceServiceService, InferenceServiceService } from '@rnas/proto';
import { ComputeEngine } from './compute';
import { inferenceHelp, loadInferenceConfig, type InferenceConfig } from './config';
import { InferenceHandlers } from './handlers';
import { InferenceMetrics } from './metrics';
import { OipHandlers } from './oip/handlers';
import { ModelRepository } from './repository';

/** `relativenas.v1.InferenceService`, the name health reports it under. */
export const INFERENCE_SERVICE = serviceName(InferenceServiceService);
/** `inference.GRPCInferenceService`: the Open Inference Protocol on the same port. */
export const OIP_SERVICE = serviceName(GRPCInferenceServiceService);
/** What ServerMetadata reports as the server's version. */
const SERVER_VERSION = (
  JSON.parse(readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')) as { version: string }
).version;

export interface StartOptions {
  /** Where JSON log lines go [a pino logger on stdout at config.logLevel]. */
  logger?: Logger;
  /** Signals that start a graceful drain [SIGTERM, SIGINT]; tests pass []. */
  shutdownSignals?: readonly NodeJS.Signals[];
  /** Tensor backend of the compute worker [RNAS_BACKEND, else auto]. */
  backend?: BackendName;
}

export interface InferenceService {
  /** The gRPC port bound. */
  port: number;
  /** The port of /metrics and /healthz; undefined without an endpoint. */
  metricsPort: number | undefined;
  /** The tensor backend in use (in the compute worker). */
  backend: BackendInfo;
  /** The worker that holds the models and runs the forward passes. */
  engine: ComputeEngine;
  /** Resolves once every model found at start is READY or FAILED; health says SERVING from then on. */
  ready: Promise<void>;
  /** Resolves when the service has drained and freed everything (after close() or a signal). */
  stopped: Promise<void>;
  repository: ModelRepository;
  server: GrpcServer;
  /** Graceful drain: health NOT_SERVING, calls in flight finish, models are freed. */
  close(): Promise<void>;
}

/**
 * Starts the inference service: starts the compute worker (which picks the tensor backend), binds
 * the gRPC and metrics ports, and loads the model repository in the background. Health reports the service NOT_SERVING until
 * every model found at start has loaded (or failed to), then SERVING; `ready` resolves then.
 */
export async function startInferenceService(
  config: InferenceConfig,
  options: StartOptions = {},
): Promise<InferenceService> {
  const logger = options.logger ?? createLogger({ service: 'inference', level: config.logLevel });
  const engine = await ComputeEngine.start({ backend: options.backend });
  const backend = engine.backend;
  logger.info({ backend: backend.name, detail: backend.detail }, 'tensor backend (compute worker)');
  // Requests carry small images: one libvips thread each lets libuv's pool decode several at once,
  // and the operation cache only holds memory for inputs that never repeat.
  sharp.concurrency(1);
  sharp.cache(false);

  const server = createServer(
    serviceServerOptions(config, { logger, shutdownSignals: options.shutdownSignals }),
  );
  server.metrics.trackTfjsMemory(() => engine.lastMemory, backend.name);
  const metrics = new InferenceMetrics(server.metrics.registry);
  const repository = new ModelRepository({
    root: ensureDirectory(config.modelRepo),
    controlMode: config.modelControlMode,
    pollMs: config.repoPollMs,
    batching: {
      maxBatchSize: config.maxBatchSize,
      maxQueueDelayMs: config.maxQueueDelayMs,
      maxQueueSize: config.maxQueueSize,
      dynamicBatching: config.dynamicBatching,
    },
    engine,
    logger,
    metrics,
  });
  const handlers = new InferenceHandlers(
    repository,
    { maxBatchSize: config.maxBatchSize, maxImagePixels: config.maxImagePixels },
    metrics,
  );
  let loaded = false;
  const oip = new OipHandlers(
    repository,
    handlers,
    {
      maxBatchSize: config.maxBatchSize,
      maxQueueDelayMs: config.maxQueueDelayMs,
      maxQueueSize: config.maxQueueSize,
      dynamicBatching: config.dynamicBatching,
      serverVersion: SERVER_VERSION,
      ready: () => loaded && server.running,
      gpu: backend.name === 'tensorflow-gpu',
    },
    metrics,
  );
  server.addService(InferenceServiceService, handlers, { ready: false });
  server.addService(GRPCInferenceServiceService, oip, { ready: false });
  let stoppedResolve: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stoppedResolve = resolve;
  });
  engine.onExit = (reason) => void repository.recoverFromWorkerExit(reason);
  server.onShutdown(() => repository.close());
  server.onShutdown(() => engine.close());
  server.onShutdown(() => stoppedResolve());
  const ports = await server.start().catch(async (error: unknown) => {
    await engine.close();
    throw error;
  });
  logger.info(
    {
      modelRepo: config.modelRepo,
      modelControlMode: config.modelControlMode,
      maxBatchSize: config.maxBatchSize,
      maxQueueDelayMs: config.maxQueueDelayMs,
      maxQueueSize: config.maxQueueSize,
      dynamicBatching: config.dynamicBatching,
    },
    'loading the model repository',
  );
  const ready = repository.start().then(
    () => {
      const models = repository.list();
      logger.info({ models: models.map((m) => m.name) }, 'initial model load done: serving');
      loaded = true;
      server.setServing(INFERENCE_SERVICE, true);
      server.setServing(OIP_SERVICE, true);
    },
    (error: unknown) => {
      // Loading reports per-version failures itself; reaching this is a bug: stay NOT_SERVING.
      logger.error({ err: error }, 'the model repository failed to start; staying NOT_SERVING');
    },
  );
  return {
    port: ports.port,
    metricsPort: ports.metricsPort,
    backend,
    engine,
    ready,
    stopped,
    repository,
    server,
    close: async () => {
      await server.shutdown();
    },
  };
}

/**
 * `rnas serve inference [flags]`: validates the configuration (every bad flag or variable is
 * reported, exit code 2), serves until SIGTERM or SIGINT, then drains. Returns the exit code.
 */
export const main = serviceMain({
  name: 'inference',
  help: inferenceHelp,
  load: loadInferenceConfig,
  start: async (config) => ({ closed: (await startInferenceService(config)).stopped }),
});
