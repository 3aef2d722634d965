// `rnas demo` (`make demo`): the whole product path on real data, as a user drives it. It starts
// the three services as child processes through the built CLI, searches Fashion-MNIST with
// RelativeNAS through SearchService, trains the best cell through TrainingService (which
// publishes the model), waits for InferenceService to load the new version, classifies the test
// set through Classify, prints what came out, and stops the services with SIGTERM. The last line
// is `demo: accuracy=<0..1> model=<name> version=<n>`; any failure stops the services and exits 1.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { openDataset, type Split } from '@rnas/data';
import { createClient, freePorts, histogramMean, isServiceError, scrapeMetrics } from '@rnas/grpc';
import {
  InferenceServiceService,
  ModelVersionState,
  SearchServiceService,
  SearchState,
  SearchStrategy,
  TrainingServiceService,
  TrainingState,
  type ModelVersion,
  type Search,
  type Training,
} from '@rnas/proto';
import { integer, positiveInt } from '../args';
import { processIo, type CliIo } from '../io';
import {
  accuracy,
  DATASET_DIR,
  datasetMissingMessage,
  datasetUri,
  DEMO_DEFAULTS,
  genotypeJson,
  missingDatasetFiles,
  perClassAccuracy,
  resolveDemoConfig,
  resultLine,
  seconds,
  TEST_SET_SIZE,
  type DemoConfig,
  type DemoOptions,
} from './demo-config';
import {
  logTail,
  signalStop,
  startService,
  stopService,
  type RunningService,
  type ServiceName,
} from './demo-services';
import { classifyLoad, ClassifyLoadError } from './demo-load';
import { runSearchWatch } from './search-client';
import { withService } from './service-client';
import { runTrainWatch, startTrainingRequest } from './train-client';

/** How long SIGTERM may take: the services' default drain grace (10 s) and their shutdown hooks. */
const STOP_TIMEOUT_MS = 30_000;
const CLASSIFY_DEADLINE_MS = 120_000;
const HINT = 'the service was started by the demo; see its log';

class DemoError extends Error {}

interface Services {
  search: RunningService;
  training: RunningService;
  inference: RunningService;
}

interface Phase {
  name: string;
  ms: number;
}

/** A process writer that swallows what it is given: the watches' result lines, printed here instead. */
const sink = { write: (): boolean => true };

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
async function explain(error: Error, services: Services | undefined): Promise<string> {
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

/** Starts the three services; if one fails the others are stopped before the error is thrown. */
async function startServices(config: DemoConfig, io: CliIo): Promise<Services> {
  const dirs = {
    state: `${config.outDir}/state`,
    models: `${config.outDir}/models`,
    logs: `${config.outDir}/logs`,
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  // Each service takes only the storage it uses.
  const extra: Record<ServiceName, string[]> = {
    search: ['--state-dir', dirs.state, '--data-root', config.dataRoot],
    training: ['--state-dir', dirs.state, '--model-repo', dirs.models, '--data-root', config.dataRoot],
    inference: ['--model-repo', dirs.models, '--repo-poll-ms', '1000'],
  };
  const names: ServiceName[] = ['search', 'training', 'inference'];
  // Ports chosen here, so that the demo knows where to call without reading the services' logs.
  const ports = await freePorts(2 * names.length);
  const started = await Promise.allSettled(
    names.map((name, i) =>
      startService(name, {
        port: ports[2 * i],
        metricsPort: ports[2 * i + 1],
        flags: extra[name],
        logFile: `${dirs.logs}/${name}.log`,
        timeoutMs: config.startTimeoutMs,
      }),
    ),
  );
  const running = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = started.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (failures.length > 0) {
    await Promise.all(running.map((s) => stopService(s, STOP_TIMEOUT_MS)));
    throw new DemoError(failures.join('\n'));
  }
  const [search, training, inference] = running;
  for (const s of running) {
    io.stdout.write(
      `demo:   ${s.name.padEnd(9)} gRPC ${s.address}  metrics ${s.metricsUrl}  pid ${s.child.pid}  log ${s.logFile}\n`,
    );
  }
  return { search, training, inference };
}

async function runSearch(config: DemoConfig, s: RunningService, io: CliIo): Promise<Search> {
  const addr = s.address;
  return withService('search', SearchServiceService, { addr, hint: HINT }, io, async ({ client, call }) => {
    const { search } = await call(
      'cannot start the search',
      client.startSearch({
        datasetUri: datasetUri(config),
        seed: config.seed,
        config: {
          strategy: SearchStrategy.SEARCH_STRATEGY_RELATIVENAS,
          population: config.search.population,
          generations: config.search.generations,
          layers: config.search.layers,
          channels: config.search.channels,
          batchSize: config.search.batchSize,
          trainImages: config.search.images,
          valImages: config.search.images,
          // 28x28 images: the default 16-pixel cutout would hide a third of each one.
          cutout: 0,
          primitives: [],
        },
      }),
    );
    const id = (search as Search).id;
    io.stdout.write(`demo: search ${id} started; watching it (rnas search watch ${id} --addr ${addr})\n`);
    // The CLI's own watch draws the progress; its closing genotype line is printed below instead.
    await runSearchWatch(id, { addr }, { ...io, stdout: sink });
    const done = await call('cannot get the search', client.getSearch({ searchId: id }));
    const final = done.search as Search;
    if (final.state !== SearchState.SEARCH_STATE_SUCCEEDED) {
      throw new DemoError(
        `the search ${id} ended ${SearchState[final.state]}${final.error === '' ? '' : `: ${final.error}`}`,
      );
    }
    return final;
  });
}

async function runTraining(
  config: DemoConfig,
  searchId: string,
  s: RunningService,
  io: CliIo,
): Promise<Training> {
  const addr = s.address;
  const t = config.training;
  return withService(
    'training',
    TrainingServiceService,
    { addr, hint: HINT },
    io,
    async ({ client, call }) => {
      const request = startTrainingRequest({
        search: searchId,
        dataset: datasetUri(config),
        model: config.modelName,
        layers: t.layers,
        channels: t.channels,
        epochs: t.epochs,
        batchSize: t.batchSize,
        learningRate: t.learningRate,
        cutout: 0,
        dropPath: 0,
        trainImages: t.trainImages,
        evalImages: t.evalImages,
        seed: config.seed,
      });
      const { training } = await call('cannot start the training', client.startTraining(request));
      const id = (training as Training).id;
      io.stdout.write(`demo: training ${id} started; watching it (rnas train watch ${id} --addr ${addr})\n`);
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

/** Polls GetModel until the published version is READY; FAILED or a timeout is an error. */
async function waitForVersion(
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

interface ClassifyOutcome {
  accuracy: number;
  images: number;
  ms: number;
  perClass: number[];
}

/**
 * Classifies the first `config.classify.images` test images through Classify: raw tensors,
 * normalised as the model's preprocessing says, `requestImages` per request with `concurrency`
 * requests in flight, so that the service's dynamic batching merges them into larger forward
 * passes.
 */
async function classifyTestSet(
  config: DemoConfig,
  s: RunningService,
  model: string,
  version: ModelVersion,
  test: Split,
  io: CliIo,
): Promise<ClassifyOutcome> {
  const shape = version.inputShape;
  const [h, w, c] = test.imageShape;
  if (shape === undefined || shape.height !== h || shape.width !== w || shape.channels !== c) {
    throw new DemoError(
      `${model} version ${version.version} takes ${shape?.height}x${shape?.width}x${shape?.channels} input, ` +
        `the test images are ${h}x${w}x${c}`,
    );
  }
  const mean = version.preprocessing?.mean ?? [];
  const std = version.preprocessing?.std ?? [];
  if (mean.length !== c || std.length !== c) {
    throw new DemoError(`${model} version ${version.version} has no preprocessing for ${c} channel(s)`);
  }
  const n = Math.min(config.classify.images, test.size);
  const per = h * w * c;
  const client = createClient(InferenceServiceService, s.address);
  const bar =
    io.stderr.isTTY === true
      ? new SingleBar({
          stream: io.stderr as NodeJS.WritableStream,
          format: 'classify [{bar}] {value}/{total} images | {ips} img/s',
          hideCursor: true,
        })
      : null;
  bar?.start(n, 0, { ips: 0 });
  let reported = 0;
  const started = performance.now();
  let predicted: Int32Array;
  try {
    predicted = await classifyLoad({
      client,
      model,
      version: version.version,
      images: n,
      // Raw pixels, normalised as the model's preprocessing says.
      input: (start, count) => {
        const values = new Array<number>(count * per);
        for (let i = 0; i < count * per; i++) {
          const channel = i % c;
          values[i] = (test.images[start * per + i] / 255 - mean[channel]) / std[channel];
        }
        return { $case: 'tensor', value: { shape: [count, h, w, c], values } };
      },
      requestImages: config.classify.requestImages,
      concurrency: config.classify.concurrency,
      deadlineMs: CLASSIFY_DEADLINE_MS,
      onProgress: (done) => {
        const ips = done / ((performance.now() - started) / 1000);
        if (bar !== null) bar.update(done, { ips: ips.toFixed(0) });
        else if (done - reported >= n / 5 || done === n) {
          reported = done;
          io.stderr.write(`classified ${done}/${n} images, ${ips.toFixed(0)} img/s\n`);
        }
      },
    });
  } finally {
    bar?.stop();
    client.close();
  }
  const ms = performance.now() - started;
  const labels = test.labels.subarray(0, n);
  return {
    accuracy: accuracy(predicted, labels),
    images: n,
    ms,
    perClass: perClassAccuracy(predicted, labels, test.numClasses),
  };
}

function cellDiagrams(search: Search): string {
  const dir = search.artifacts?.cellsDirectory ?? '';
  if (dir === '' || !existsSync(dir)) return '(none written)';
  const files = readdirSync(dir)
    .filter((f) => /^generation-\d+\.svg$/.test(f))
    .sort();
  const chosen = existsSync(`${dir}/final.svg`) ? 'final.svg' : '-';
  return `${dir}/ (${files.length} SVG, one per generation's best; the chosen cell: ${chosen})`;
}

/** Runs the demo; returns the exit code. Everything it starts is stopped before it returns. */
export async function runDemo(config: DemoConfig, io: CliIo): Promise<number> {
  const out = (line: string): void => void io.stdout.write(`demo: ${line}\n`);
  const datasetDir = `${config.dataRoot}/${DATASET_DIR}`;
  const missing = missingDatasetFiles(datasetDir, existsSync);
  if (missing.length > 0) {
    io.stderr.write(`demo: ${datasetMissingMessage(datasetDir, existsSync(datasetDir), missing)}\n`);
    return 1;
  }
  const phases: Phase[] = [];
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await work();
    phases.push({ name, ms: performance.now() - t0 });
    return result;
  };
  const t0 = performance.now();
  out(`RelativeNAS on Fashion-MNIST (${datasetDir}), seed ${config.seed}`);
  out(`state, model repository and logs: ${config.outDir}`);

  let services: Services | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    io.stderr.write(`\ndemo: ${signal}: stopping the services\n`);
    for (const s of Object.values(services ?? {})) signalStop(s as RunningService);
  };
  // The services run in process groups of their own: should the demo die some other way, they
  // still get their SIGTERM.
  const onExit = (): void => {
    for (const s of Object.values(services ?? {})) signalStop(s as RunningService);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);

  let result: { line: string } | undefined;
  let failure: string | undefined;
  try {
    out('starting the search, training and inference services (rnas serve ...)');
    services = await timed('start services', () => startServices(config, io));
    const running = services;
    const crashed = crashWatch(Object.values(running));
    const guard = <T>(work: Promise<T>): Promise<T> => Promise.race([work, crashed]);

    const sc = config.search;
    out(
      `searching: population ${sc.population}, ${sc.generations} generations, search network ${sc.layers} cells x ${sc.channels} channels, ` +
        `${sc.images} training + ${sc.images} validation images per comparison, batch ${sc.batchSize}`,
    );
    const search = await timed('search', () => guard(runSearch(config, running.search, io)));
    const best = search.best;
    if (best?.genotype === undefined)
      throw new DemoError(`the search ${search.id} succeeded without a best genotype`);
    out(
      `chosen genotype (member ${best.member} of the final population, re-evaluated under the final weight set: ` +
        `validation loss ${best.valLoss.toFixed(4)}, accuracy ${(100 * best.valAccuracy).toFixed(1)}%):`,
    );
    io.stdout.write(`${genotypeJson(best.genotype)}\n`);
    out(`cell diagrams: ${cellDiagrams(search)}`);

    const tc = config.training;
    out(
      `training the best cell: ${tc.layers} cells x ${tc.channels} channels, ${tc.epochs} epoch(s) of ${tc.trainImages} images, ` +
        `batch ${tc.batchSize}, lr ${tc.learningRate} cosine, evaluated on ${tc.evalImages} test images per epoch`,
    );
    const training = await timed('training', () =>
      guard(runTraining(config, search.id, running.training, io)),
    );
    const model = training.model as NonNullable<Training['model']>;
    out(`published ${model.name} version ${model.version} (${model.path})`);

    const version = await timed('model load', () =>
      guard(waitForVersion(running.inference, model.name, model.version, config.startTimeoutMs)),
    );
    out(
      `the inference service serves ${model.name} version ${version.version} ` +
        `(${version.parameterCount} parameters, input ${version.inputShape?.height}x${version.inputShape?.width}x${version.inputShape?.channels})`,
    );

    const dataset = await timed('read test set', () =>
      guard(openDataset(datasetUri(config), { dataRoots: [config.dataRoot] })),
    );
    const n = Math.min(config.classify.images, dataset.test.size);
    out(
      `classifying ${n === TEST_SET_SIZE ? `the whole test set (${n} images)` : `the first ${n} test images`} through Classify: ` +
        `raw tensors, ${config.classify.requestImages} per request, ${config.classify.concurrency} requests in flight`,
    );
    const outcome = await timed('classify', () =>
      guard(classifyTestSet(config, running.inference, model.name, version, dataset.test, io)),
    );
    const metrics = await scrapeMetrics(running.inference.metricsUrl).catch(() => '');
    const meanBatch = histogramMean(metrics, 'rnas_inference_batch_size');

    out(
      `test accuracy ${(100 * outcome.accuracy).toFixed(2)}% on ${outcome.images} images ` +
        `(${(outcome.images / (outcome.ms / 1000)).toFixed(0)} images/s` +
        `${meanBatch === undefined ? '' : `, mean forward batch ${meanBatch.toFixed(1)} images`})`,
    );
    out(
      `per class: ${dataset.classNames.map((name, k) => `${name} ${Number.isNaN(outcome.perClass[k]) ? '-' : (100 * outcome.perClass[k]).toFixed(0)}%`).join(', ')}`,
    );
    out(
      `search artefacts: ${search.artifacts?.directory} (genotype.json, history.json, cells/, checkpoint/)`,
    );
    out('metrics (Prometheus, until the services stop):');
    for (const s of Object.values(running) as RunningService[]) {
      io.stdout.write(`demo:   ${s.name.padEnd(9)} ${s.metricsUrl}\n`);
    }
    result = { line: resultLine(outcome.accuracy, model.name, model.version) };
  } catch (error) {
    failure = interrupted ? 'interrupted' : await explain(error as Error, services);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    if (services !== undefined) {
      out('stopping the services (SIGTERM)');
      const all = Object.values(services) as RunningService[];
      const problems = await timed('stop services', () =>
        Promise.all(all.map((s) => stopService(s, STOP_TIMEOUT_MS))),
      );
      for (const p of problems) {
        if (p === undefined) continue;
        io.stderr.write(`demo: ${p}\n`);
        failure ??= p;
      }
    }
  }
  phases.push({ name: 'total', ms: performance.now() - t0 });
  out(`timings: ${phases.map((p) => `${p.name} ${seconds(p.ms)}`).join(', ')}`);
  if (failure !== undefined || result === undefined) {
    io.stderr.write(`demo: FAILED: ${failure ?? 'no result'}\n`);
    return interrupted ? 130 : 1;
  }
  io.stdout.write(`${result.line}\n`);
  return 0;
}

/** The `demo` subcommand, ready to add to the program. */
export function demoCommand(io: CliIo = processIo): Command {
  const d = DEMO_DEFAULTS;
  return new Command('demo')
    .description(
      'start the three services, search Fashion-MNIST, train the best cell, classify the test set, stop (make demo)',
    )
    .option('--data-root <dir>', `directory holding ${DATASET_DIR}/ (default ${d.dataRoot})`)
    .option('--out <dir>', 'state, model repository and logs of this run (default runs/demo-<time>)')
    .option('--seed <n>', `seed of the search and the training (default ${d.seed})`, integer)
    .option('--population <n>', `search population, even (default ${d.population})`, positiveInt)
    .option('--generations <n>', `search generations (default ${d.generations})`, positiveInt)
    .option('--search-layers <n>', `cells of the search network (default ${d.searchLayers})`, positiveInt)
    .option(
      '--search-channels <n>',
      `channels of the search network (default ${d.searchChannels})`,
      positiveInt,
    )
    .option(
      '--search-images <n>',
      `training and validation images per comparison (default ${d.searchImages})`,
      integer,
    )
    .option('--layers <n>', `cells of the trained network (default ${d.layers})`, positiveInt)
    .option('--channels <n>', `channels of the trained network (default ${d.channels})`, positiveInt)
    .option('--epochs <n>', `training epochs (default ${d.epochs})`, positiveInt)
    .option('--train-images <n>', `training images per epoch (default ${d.trainImages})`, positiveInt)
    .option(
      '--classify-images <n>',
      `test images sent through Classify (default ${d.classifyImages}, the whole test set)`,
      integer,
    )
    .option('--concurrency <n>', `Classify requests in flight (default ${d.concurrency})`, positiveInt)
    .option('--model <name>', `model name to publish (default ${d.model})`)
    .action(async (options: DemoOptions) => {
      const config = resolveDemoConfig(options, new Date());
      process.exitCode = await runDemo(config, io);
    });
}
