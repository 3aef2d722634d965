// What the demos share (`rnas demo`, `rnas demo --task detection`): starting the services they
// need as child processes through the built CLI on free ports, racing every phase against a
// service that dies, timing the phases, waiting for a published model version to load, and
// stopping the services with SIGTERM whatever happens (also on Ctrl-C). A demo is a body that
// gets the running services and returns its result line.
import { mkdirSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { createClient, freePorts, isServiceError } from '@rnas/grpc';
import {
  InferenceServiceService,
  ModelVersionState,
  TrainingServiceService,
  TrainingState,
  type ModelVersion,
  type StartTrainingRequest,
  type Training,
} from '@rnas/proto';
import type { CliIo } from '../io';
import { seconds } from './demo-config';
import {
  logTail,
  signalStop,
  startService,
  stopService,
  type RunningService,
  type ServiceName,
} from './demo-services';
import { ClassifyLoadError } from './demo-load';
import { withService } from './service-client';
import { runTrainWatch } from './train-client';

/** How long SIGTERM may take: the services' default drain grace (10 s) and their shutdown hooks. */
const STOP_TIMEOUT_MS = 30_000;
export const HINT = 'the service was started by the demo; see its log';

/** A failure the demo explains itself (its message is the whole story). */
export class DemoError extends Error {}

/** A process writer that swallows what it is given: the watches' result lines, printed by the demo instead. */
export const sink = { write: (): boolean => true };

export type DemoServices = Partial<Record<ServiceName, RunningService>>;

export interface DemoRunOptions {
  /** The prefix of every line: `demo`, `demo-detect`. */
  readonly name: string;
  /** State, model repository and logs of this run. */
  readonly outDir: string;
  /** The services' only data root. */
  readonly dataRoot: string;
  /** How long a service may take to start. */
  readonly startTimeoutMs: number;
  /** The services this demo needs, in start order. */
  readonly services: readonly ServiceName[];
}

/** What a demo's body gets. */
export interface DemoRun {
  readonly services: DemoServices;
  /** Prints `<name>: <line>`. */
  out(line: string): void;
  /** Runs a phase, timing it and racing it against a service that dies. */
  phase<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** The service, which the demo started. */
  service(name: ServiceName): RunningService;
}

interface Phase {
  name: string;
  ms: number;
}

/** Rejects as soon as a service exits without being asked to: every phase races against it. */
function crashWatch(services: readonly RunningService[]): Promise<never> {
  const crashed = new Promise<never>((_, reject) => {
    for (const s of services) {
      void s.exited.then((code) => {
        if (!s.stopping) {
          reject(
            new DemoError(
              `the ${s.name} service exited (${code}) while the demo ran; its log ${s.logFile} ends:\n${logTail(s.logFile)}`,
            ),
          );
        }
      });
    }
  });
  // Nobody may be racing against it when it fires (e.g. between phases); that is not unhandled.
  crashed.catch(() => undefined);
  return crashed;
}

/**
 * The message of a failed phase. A call cut off by a service that died fails with UNAVAILABLE,
 * which may arrive before the exit is seen: wait a moment and name the service and its log instead.
 */
async function explain(error: Error, services: DemoServices | undefined): Promise<string> {
  if (services === undefined || error instanceof DemoError || error instanceof ClassifyLoadError)
    return error.message;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const dead = Object.values(services).find(
    (s: RunningService) => !s.stopping && (s.child.exitCode !== null || s.child.signalCode !== null),
  );
  if (dead === undefined) return error.message;
  return (
    `${error.message}\nthe ${dead.name} service exited (${dead.child.exitCode ?? dead.child.signalCode}); ` +
    `its log ${dead.logFile} ends:\n${logTail(dead.logFile)}`
  );
}

/** Starts the services; if one fails the others are stopped before the error is thrown. */
async function startServices(options: DemoRunOptions, io: CliIo): Promise<DemoServices> {
  const dirs = {
    searchState: `${options.outDir}/state/search`,
    trainingState: `${options.outDir}/state/training`,
    models: `${options.outDir}/models`,
    logs: `${options.outDir}/logs`,
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  const names = options.services;
  // Ports chosen here, so that the demo knows where to call without reading the services' logs.
  const ports = await freePorts(2 * names.length);
  const searchAt = names.indexOf('search');
  // Each service owns its state and takes only the storage it uses; training asks the search
  // service for a search's genotype.
  const extra: Record<ServiceName, string[]> = {
    search: ['--state-dir', dirs.searchState, '--data-root', options.dataRoot],
    training: [
      ...['--state-dir', dirs.trainingState, '--model-repo', dirs.models, '--data-root', options.dataRoot],
      ...(searchAt === -1 ? [] : ['--search-addr', `127.0.0.1:${ports[2 * searchAt]}`]),
    ],
    inference: ['--model-repo', dirs.models, '--repo-poll-ms', '1000'],
  };
  const started = await Promise.allSettled(
    names.map((name, i) =>
      startService(name, {
        port: ports[2 * i],
        metricsPort: ports[2 * i + 1],
        flags: extra[name],
        logFile: `${dirs.logs}/${name}.log`,
        timeoutMs: options.startTimeoutMs,
      }),
    ),
  );
  const running = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = started.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (failures.length > 0) {
    await Promise.all(running.map((s) => stopService(s, STOP_TIMEOUT_MS)));
    throw new DemoError(failures.join('\n'));
  }
  for (const s of running) {
    io.stdout.write(
      `${options.name}:   ${s.name.padEnd(9)} gRPC ${s.address}  metrics ${s.metricsUrl}  pid ${s.child.pid}  log ${s.logFile}\n`,
    );
  }
  return Object.fromEntries(running.map((s) => [s.name, s]));
}

/**
 * Starts the services, runs `body`, stops the services, prints the phases' timings and, when all
 * went well, `body`'s result line last. Returns the exit code: 0, 1 on a failure, 130 when
 * interrupted.
 */
export async function runWithServices(
  options: DemoRunOptions,
  io: CliIo,
  body: (run: DemoRun) => Promise<string>,
): Promise<number> {
  const out = (line: string): void => void io.stdout.write(`${options.name}: ${line}\n`);
  const phases: Phase[] = [];
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await work();
    phases.push({ name, ms: performance.now() - t0 });
    return result;
  };
  const t0 = performance.now();
  let services: DemoServices | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    io.stderr.write(`\n${options.name}: ${signal}: stopping the services\n`);
    for (const s of Object.values(services ?? {})) signalStop(s);
  };
  // The services run in process groups of their own: should the demo die some other way, they
  // still get their SIGTERM.
  const onExit = (): void => {
    for (const s of Object.values(services ?? {})) signalStop(s);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);

  let result: string | undefined;
  let failure: string | undefined;
  try {
    const names = options.services;
    const listed =
      names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
    out(`starting the ${listed} services (rnas serve ...)`);
    services = await timed('start services', () => startServices(options, io));
    const running = services;
    const crashed = crashWatch(Object.values(running));
    result = await body({
      services: running,
      out,
      phase: (name, work) => timed(name, () => Promise.race([work(), crashed])),
      service: (name) => {
        const s = running[name];
        if (s === undefined) throw new Error(`the demo did not start the ${name} service`);
        return s;
      },
    });
  } catch (error) {
    failure = interrupted ? 'interrupted' : await explain(error as Error, services);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    if (services !== undefined) {
      out('stopping the services (SIGTERM)');
      const all = Object.values(services);
      const problems = await timed('stop services', () =>
        Promise.all(all.map((s) => stopService(s, STOP_TIMEOUT_MS))),
      );
      for (const p of problems) {
        if (p === undefined) continue;
        io.stderr.write(`${options.name}: ${p}\n`);
        failure ??= p;
      }
    }
  }
  phases.push({ name: 'total', ms: performance.now() - t0 });
  out(`timings: ${phases.map((p) => `${p.name} ${seconds(p.ms)}`).join(', ')}`);
  if (failure !== undefined || result === undefined) {
    io.stderr.write(`${options.name}: FAILED: ${failure ?? 'no result'}\n`);
    return interrupted ? 130 : 1;
  }
  io.stdout.write(`${result}\n`);
  return 0;
}

/** Polls GetModel until the published version is READY; FAILED or a timeout is an error. */
export async function waitForVersion(
  s: RunningService,
  model: string,
  version: number,
  timeoutMs: number,
): Promise<ModelVersion> {
  const client = createClient(InferenceServiceService, s.address);
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      let found: ModelVersion | undefined;
      try {
        const response = await client.getModel({ modelName: model }, { deadlineMs: 10_000 });
        found = response.model?.versions.find((v) => v.version === version);
      } catch (error) {
        if (!isServiceError(error) || error.code !== status.NOT_FOUND) throw error;
      }
      if (found?.state === ModelVersionState.MODEL_VERSION_STATE_READY) return found;
      if (found?.state === ModelVersionState.MODEL_VERSION_STATE_FAILED) {
        throw new DemoError(
          `the inference service failed to load ${model} version ${version}: ${found.error}`,
        );
      }
      if (Date.now() > until) {
        throw new DemoError(
          `the inference service did not load ${model} version ${version} within ${Math.round(timeoutMs / 1000)} s ` +
            `(state ${found === undefined ? 'not seen' : ModelVersionState[found.state]}); see ${s.logFile}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    client.close();
  }
}

/**
 * Starts a training through TrainingService, follows it with the CLI's watch (progress on stderr)
 * and returns it once it SUCCEEDED; any other end is a DemoError with its state and error.
 */
export async function trainToEnd(
  training: RunningService,
  request: StartTrainingRequest,
  io: CliIo,
  out: (line: string) => void,
): Promise<Training> {
  const addr = training.address;
  return withService(
    'training',
    TrainingServiceService,
    { addr, hint: HINT },
    io,
    async ({ client, call }) => {
      const started = await call('cannot start the training', client.startTraining(request));
      const id = (started.training as Training).id;
      out(`training ${id} started; watching it (rnas train watch ${id} --addr ${addr})`);
      await runTrainWatch(id, { addr }, { ...io, stdout: sink });
      const done = await call('cannot get the training', client.getTraining({ trainingId: id }));
      const final = done.training as Training;
      if (final.state !== TrainingState.TRAINING_STATE_SUCCEEDED || final.model === undefined) {
        throw new DemoError(
          `the training ${id} ended ${TrainingState[final.state]}${final.error === '' ? '' : `: ${final.error}`}`,
        );
      }
      return final;
    },
  );
}
