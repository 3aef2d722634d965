// A service whose work is durable jobs (search, training), from one bootstrap: the job database in
// the state directory, the gRPC server with the service, health, reflection and metrics (the
// engine's memory including every running job's worker, the jobs by state), recovery of the jobs
// that were running, and the drain on SIGTERM. A service supplies only its own: its gRPC
// definition and handlers, and its jobs (see DurableJobs).
import * as path from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { Gauge, type Registry } from 'prom-client';
import {
  createLogger,
  createServer,
  serviceServerOptions,
  ensureDirectory,
  serviceName,
  type Authenticate,
  type GrpcServer,
  type Logger,
  type ServiceConfig,
  type ServiceHandlers,
} from '@rnas/grpc';
import { sumWorkerMemory, workerMemory as workerMemoryOf, type WorkerMemory } from '@rnas/workers';
import { JOB_STATES, type JobState } from './job-state';
import { JobStore } from './job-store';

/** The options every job service takes (besides the common ones of SERVICE_OPTIONS). */
export interface JobServiceConfig extends ServiceConfig {
  stateDir: string;
  maxRunning: number;
  /** Unfinished jobs one subject may have; 0: no limit (MAX_JOBS_PER_SUBJECT_OPTION). */
  maxJobsPerSubject: number;
}

/**
 * The tensor engine, passed in by the service: this package does not load TensorFlow.js (a job
 * runs its tensors in its worker thread; the service thread only initialises and reports).
 */
export interface JobServiceEngine<Backend extends { name: string; detail?: unknown }> {
  init(): Promise<Backend>;
  /** The engine's memory on the service thread. */
  memory(): WorkerMemory;
}

/** What the bootstrap needs of a service's jobs (a class around DurableJobs). */
export interface ServiceJobs {
  countByState(): Record<JobState, number>;
  /** After the server started: resume the running jobs, queue the queued ones. */
  recover(): void;
  /** Stops the running jobs (they resume at the next start) and waits for their workers. */
  close(): Promise<void>;
}

/**
 * The tensor memory each running job's worker reported last, added up for the service's
 * `rnas_tfjs_*` gauges: a job's tensors live in its worker thread, not in the service's engine.
 */
export class WorkerMemoryByJob {
  private readonly byJob = new Map<string, WorkerMemory>();

  report(id: string, memory: WorkerMemory): void {
    this.byJob.set(id, memory);
  }

  /** A job stopped running: its worker and its tensors are gone. */
  forget(id: string): void {
    this.byJob.delete(id);
  }

  total(): WorkerMemory {
    return sumWorkerMemory(this.byJob.values());
  }
}

/** What a service's jobs are built from. */
export interface JobServiceContext<Config, Backend> {
  config: Config;
  store: JobStore;
  backend: Backend;
  logger: Logger;
  /** The server's metrics registry, for the service's own series. */
  registry: Registry;
  workerMemory: WorkerMemoryByJob;
  /** The compiled worker script the jobs run. */
  workerScript: string;
}

export interface JobServiceSpec<
  Config extends JobServiceConfig,
  Jobs extends ServiceJobs,
  Definition extends ServiceDefinition,
  Backend extends { name: string; detail?: unknown },
> {
  /** As in `rnas serve <name>`; also the logger's service name and the database file `<name>.db`. */
  name: string;
  /** Plural, capitalised, for the jobs gauge's help: `Searches`. */
  plural: string;
  definition: Definition;
  engine: JobServiceEngine<Backend>;
  /** The compiled worker script (tests may pass another through JobServiceOptions). */
  workerScript: string;
  /** Directories the service owns besides the state directory (created at start). */
  directories?(config: Config): string[];
  jobs(context: JobServiceContext<Config, Backend>): Jobs;
  handlers(jobs: Jobs, config: Config): ServiceHandlers<Definition>;
}

export interface JobServiceOptions {
  /** Where logs go [a JSON logger on stdout at the configured level]. */
  logger?: Logger;
  /** Signals that start a drain [SIGTERM, SIGINT]; tests pass []. */
  shutdownSignals?: readonly NodeJS.Signals[];
  /** The compiled worker [the spec's]. */
  workerScript?: string;
  /**
   * Who each call is (the principal whose jobs it sees) [the server's default: ANONYMOUS];
   * tests fabricate principals with it.
   */
  authenticate?: Authenticate;
}

export interface RunningJobService<Jobs> {
  /** The gRPC port bound. */
  port: number;
  /** The metrics port bound, when there is an endpoint. */
  metricsPort: number | undefined;
  server: GrpcServer;
  jobs: Jobs;
  /** Resolves once the service has drained and closed (after close() or a signal). */
  closed: Promise<void>;
  /** Drains the server, stops the running jobs (they resume at the next start), closes the database. */
  close(): Promise<void>;
}

/** The job database file of a service in its state directory: `<name>.db`. */
export function jobDatabaseName(name: string): string {
  return `${name}.db`;
}

/**
 * Starts a job service: opens (or creates) the job database, serves, then resumes the jobs that
 * were running. The returned service is ready: health reports SERVING.
 */
export async function startJobService<
  Config extends JobServiceConfig,
  Jobs extends ServiceJobs,
  Definition extends ServiceDefinition,
  Backend extends { name: string; detail?: unknown },
>(
  spec: JobServiceSpec<Config, Jobs, Definition, Backend>,
  config: Config,
  options: JobServiceOptions = {},
): Promise<RunningJobService<Jobs>> {
  const logger = options.logger ?? createLogger({ service: spec.name, level: config.logLevel });
  const backend = await spec.engine.init();
  logger.info({ backend: backend.name, detail: backend.detail }, 'engine backend');
  for (const dir of spec.directories?.(config) ?? []) ensureDirectory(dir);
  const store = JobStore.open(path.join(ensureDirectory(config.stateDir), jobDatabaseName(spec.name)));
  const server = createServer({
    ...serviceServerOptions(config, { logger, shutdownSignals: options.shutdownSignals }),
    ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
  });
  const registry = server.metrics.registry;
  const workerMemory = new WorkerMemoryByJob();
  const jobs = spec.jobs({
    config,
    store,
    backend,
    logger,
    registry,
    workerMemory,
    workerScript: options.workerScript ?? spec.workerScript,
  });
  new Gauge({
    name: `rnas_${spec.name}_jobs`,
    help: `${spec.plural} in the job database, by state.`,
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = jobs.countByState();
      for (const state of JOB_STATES) this.set({ state }, counts[state]);
    },
  });
  server.metrics.trackTfjsMemory(
    () => sumWorkerMemory([workerMemory.total(), workerMemoryOf(spec.engine.memory())]),
    backend.name,
  );
  server.addService(spec.definition, spec.handlers(jobs, config), { ready: false });
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
  server.setServing(serviceName(spec.definition), true);
  return {
    port: ports.port,
    metricsPort: ports.metricsPort,
    server,
    jobs,
    closed,
    close: () => server.shutdown(),
  };
}
