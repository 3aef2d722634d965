// `rnas demo` (`make demo`): the whole product path on real data, as a user drives it. It starts
// the three services as child processes through the built CLI, searches Fashion-MNIST with
// RelativeNAS through SearchService, trains the best cell through TrainingService (which
// publishes the model), waits for InferenceService to load the new version, classifies the test
// set through Classify, prints what came out, and stops the services with SIGTERM. The last line
// is `demo: accuracy=<0..1> model=<name> version=<n>`; any failure stops the services and exits 1.
import { existsSync, readdirSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { openDataset, type Split } from '@rnas/data';
import { createClient, histogramMean, scrapeMetrics } from '@rnas/grpc';
import {
  InferenceServiceService,
  SearchServiceService,
  SearchState,
  SearchStrategy,
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
  TEST_SET_SIZE,
  type DemoConfig,
  type DemoOptions,
} from './demo-config';
import type { RunningService } from './demo-services';
import { classifyLoad } from './demo-load';
import { DETECT_DEFAULTS, resolveDetectDemoConfig, runDetectDemo } from './demo-detect';
import type { DenseDemoOptions } from './demo-dense';
import { POSE_DEFAULTS, resolvePoseDemoConfig, runPoseDemo } from './demo-pose';
import { resolveSegmentDemoConfig, runSegmentDemo, SEGMENT_DEFAULTS } from './demo-segment';
import { DemoError, HINT, runWithServices, sink, trainToEnd, waitForVersion } from './demo-run';
import { runSearchWatch } from './search-client';
import { withService } from './service-client';
import { startTrainingRequest } from './train-client';

const CLASSIFY_DEADLINE_MS = 120_000;
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

function runTraining(config: DemoConfig, searchId: string, s: RunningService, io: CliIo): Promise<Training> {
  const t = config.training;
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
  return trainToEnd(s, request, io, (line) => void io.stdout.write(`demo: ${line}\n`));
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
  const datasetDir = `${config.dataRoot}/${DATASET_DIR}`;
  const missing = missingDatasetFiles(datasetDir, existsSync);
  if (missing.length > 0) {
    io.stderr.write(`demo: ${datasetMissingMessage(datasetDir, existsSync(datasetDir), missing)}\n`);
    return 1;
  }
  io.stdout.write(`demo: RelativeNAS on Fashion-MNIST (${datasetDir}), seed ${config.seed}\n`);
  io.stdout.write(`demo: state, model repository and logs: ${config.outDir}\n`);
  const options = {
    name: 'demo',
    outDir: config.outDir,
    dataRoot: config.dataRoot,
    startTimeoutMs: config.startTimeoutMs,
    services: ['search', 'training', 'inference'] as const,
  };
  return runWithServices(options, io, async ({ out, phase, service, services }) => {
    const sc = config.search;
    out(
      `searching: population ${sc.population}, ${sc.generations} generations, search network ${sc.layers} cells x ${sc.channels} channels, ` +
        `${sc.images} training + ${sc.images} validation images per comparison, batch ${sc.batchSize}`,
    );
    const search = await phase('search', () => runSearch(config, service('search'), io));
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
    const training = await phase('training', () => runTraining(config, search.id, service('training'), io));
    const model = training.model as NonNullable<Training['model']>;
    out(`published ${model.name} version ${model.version} (${model.path})`);

    const inference = service('inference');
    const version = await phase('model load', () =>
      waitForVersion(inference, model.name, model.version, config.startTimeoutMs),
    );
    out(
      `the inference service serves ${model.name} version ${version.version} ` +
        `(${version.parameterCount} parameters, input ${version.inputShape?.height}x${version.inputShape?.width}x${version.inputShape?.channels})`,
    );

    const dataset = await phase('read test set', () =>
      openDataset(datasetUri(config), { dataRoots: [config.dataRoot] }),
    );
    const n = Math.min(config.classify.images, dataset.test.size);
    out(
      `classifying ${n === TEST_SET_SIZE ? `the whole test set (${n} images)` : `the first ${n} test images`} through Classify: ` +
        `raw tensors, ${config.classify.requestImages} per request, ${config.classify.concurrency} requests in flight`,
    );
    const outcome = await phase('classify', () =>
      classifyTestSet(config, inference, model.name, version, dataset.test, io),
    );
    const metrics = await scrapeMetrics(inference.metricsUrl).catch(() => '');
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
    for (const s of Object.values(services)) {
      io.stdout.write(`demo:   ${s.name.padEnd(9)} ${s.metricsUrl}\n`);
    }
    return resultLine(outcome.accuracy, model.name, model.version);
  });
}

const CLASSIFICATION_ONLY = [
  ['dataRoot', '--data-root'],
  ['population', '--population'],
  ['generations', '--generations'],
  ['searchLayers', '--search-layers'],
  ['searchChannels', '--search-channels'],
  ['searchImages', '--search-images'],
  ['classifyImages', '--classify-images'],
] as const;
/** The dense tasks' demos: their flags resolved, then run. */
const DENSE_DEMOS = {
  detection: (options: DenseDemoOptions, io: CliIo) =>
    runDetectDemo(resolveDetectDemoConfig(options, new Date()), io),
  segmentation: (options: DenseDemoOptions, io: CliIo) =>
    runSegmentDemo(resolveSegmentDemoConfig(options, new Date()), io),
  keypoints: (options: DenseDemoOptions, io: CliIo) =>
    runPoseDemo(resolvePoseDemoConfig(options, new Date()), io),
};

const DENSE_ONLY = [
  ['genotype', '--genotype'],
  ['inputSize', '--input-size'],
  ['testImages', '--test-images'],
] as const;

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
    .option(
      '--model <name>',
      `model name to publish (default ${d.model}; ${DETECT_DEFAULTS.model}, ${SEGMENT_DEFAULTS.model}, ` +
        `${POSE_DEFAULTS.model} for detection, segmentation, keypoints)`,
    )
    .addOption(
      new Option(
        '--task <name>',
        'classification (default: search Fashion-MNIST, train, Classify), detection (make demo-detect: ' +
          "train SSDLite on a published genotype's backbone on synthetic shapes in VOC format, Detect, AP50), " +
          'segmentation (make demo-segment: BiSeNet on VOC-format shape masks, Segment, mIoU) or keypoints ' +
          '(make demo-pose: SimpleBaseline on COCO-format stick figures, EstimatePose, OKS AP)',
      ).choices(['classification', 'detection', 'segmentation', 'keypoints']),
    )
    .option(
      '--genotype <name|file>',
      `dense tasks: the backbone's genotype (default ${DETECT_DEFAULTS.genotype})`,
    )
    .option(
      '--input-size <n>',
      `dense tasks: the network input's side (keypoints: the crop's height, its width 3/4 of it; ` +
        `default ${DETECT_DEFAULTS.inputSize}, ${SEGMENT_DEFAULTS.inputSize}, ${POSE_DEFAULTS.inputSize})`,
      positiveInt,
    )
    .option(
      '--test-images <n>',
      `dense tasks: held-out images (default ${DETECT_DEFAULTS.testImages}, ${SEGMENT_DEFAULTS.testImages}, ${POSE_DEFAULTS.testImages})`,
      positiveInt,
    )
    .action(async (options: DemoOptions & DenseDemoOptions & { task?: string }) => {
      const task = options.task ?? 'classification';
      if (task !== 'classification') {
        const stray = CLASSIFICATION_ONLY.find(([key]) => options[key] !== undefined);
        if (stray !== undefined) throw new Error(`${stray[1]} is not a flag of the ${task} demo`);
        process.exitCode = await DENSE_DEMOS[task as keyof typeof DENSE_DEMOS](options, io);
        return;
      }
      const stray = DENSE_ONLY.find(([key]) => options[key] !== undefined);
      if (stray !== undefined)
        throw new Error(
          `${stray[1]} is a flag of the dense-task demos: add --task detection (or segmentation, keypoints)`,
        );
      const config = resolveDemoConfig(options, new Date());
      process.exitCode = await runDemo(config, io);
    });
}
