// `rnas demo --task detection` (`make demo-detect`): detection on a discovered backbone, end to
// end through the services. It writes a synthetic shapes dataset in Pascal VOC format, starts the
// training and inference services, trains SSDLite on the backbone of a published genotype through
// TrainingService (which evaluates AP every epoch and publishes the detector), waits for
// InferenceService to load it, sends every held-out image through Detect as an encoded JPEG,
// scores the answers with VOC AP at IoU 0.5 against the annotations, draws a few, and stops the
// services. The last line is `demo-detect: AP50=<0..1> model=<name> version=<n>`.
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { openDetectionDataset, writeDetectionShapes, type DetectionImage } from '@rnas/data';
import { createClient, histogramMean, scrapeMetrics } from '@rnas/grpc';
import {
  DetectionAugmentation,
  InferenceServiceService,
  Task,
  type ImageDetections,
  type StartTrainingRequest,
  type Training,
} from '@rnas/proto';
import { groundTruths, vocEvaluate, type EvalDetection, type EvalGroundTruth } from '@rnas/tasks';
import type { CliIo } from '../io';
import {
  denseTrainingRequest,
  inLanes,
  resolveDenseDemoConfig,
  type DenseDemoConfig,
  type DenseDemoOptions,
} from './demo-dense';
import { runWithServices, trainToEnd, waitForVersion } from './demo-run';
import { drawDetections } from './draw-detections';

/**
 * The detection demo's sizes, measured on the 2-core development machine (wasm backend,
 * 2026-12-03; docs/benchmarks.md, "Detection"): at input 128 a 5-cell, 16-channel RelativeNAS
 * backbone trains at about 100 images/s, so 8 epochs of 2000 images take about 3 minutes. With
 * flips as the only augmentation it reached AP50 0.81 after 6 epochs and 0.86 after 7 (held-out
 * images); the reference's zoom out and crop reached 0.26 after 6 epochs of 1000 (they are made
 * for 200 epochs).
 */
export const DETECT_DEFAULTS = {
  seed: 1,
  genotype: 'RelativeNAS',
  channels: 16,
  layers: 5,
  inputSize: 128,
  imageSize: 160,
  trainImages: 2000,
  testImages: 200,
  epochs: 8,
  batchSize: 16,
  learningRate: 0.05,
  concurrency: 4,
  requestImages: 4,
  draw: 4,
  model: 'shapes-detector',
  startTimeoutMs: 120_000,
} as const;

export type DetectDemoOptions = DenseDemoOptions;
export type DetectDemoConfig = DenseDemoConfig;

/** The configuration of the flags, checked before anything starts; errors name the flag. */
export function resolveDetectDemoConfig(options: DetectDemoOptions, now: Date): DetectDemoConfig {
  return resolveDenseDemoConfig(options, DETECT_DEFAULTS, 'demo-detect', now);
}

/** The demo's last line, which scripts parse. */
export function detectResultLine(ap50: number, model: string, version: number): string {
  if (!(ap50 >= 0 && ap50 <= 1)) throw new Error(`AP50 ${ap50} is not in [0, 1]`);
  return `demo-detect: AP50=${ap50.toFixed(4)} model=${model} version=${version}`;
}

function trainingRequest(config: DetectDemoConfig, datasetUri: string): StartTrainingRequest {
  return denseTrainingRequest(config, datasetUri, {
    task: Task.TASK_DETECTION,
    detection: {
      inputSize: config.inputSize,
      boxSizes: [],
      aspectRatios: [],
      backboneModel: '',
      // Flips only: the reference's zoom out and crop are made for 200 epochs, this demo has minutes.
      augmentation: DetectionAugmentation.DETECTION_AUGMENTATION_MIRROR,
    },
  });
}

/** Sends the images through Detect, `requestImages` per request, `concurrency` requests in flight. */
async function detectAll(
  address: string,
  model: string,
  version: number,
  files: readonly string[],
  config: DetectDemoConfig,
): Promise<ImageDetections[]> {
  const client = createClient(InferenceServiceService, address);
  try {
    return await inLanes(files, config.requestImages, config.concurrency, async (chunk) => {
      const images = await Promise.all(chunk.map((file) => readFile(file)));
      const response = await client.detect(
        {
          modelName: model,
          version,
          input: { $case: 'images', value: { images } },
          // The reference's evaluation threshold: AP needs the whole precision-recall curve.
          scoreThreshold: 0.01,
          maxDetections: 200,
          classes: [],
        },
        { deadlineMs: 120_000 },
      );
      return response.images;
    });
  } finally {
    client.close();
  }
}

/** VOC AP at IoU 0.5 (all-point) of the answers against the test split's annotations. */
function apOf(images: readonly DetectionImage[], answers: readonly ImageDetections[], classes: number) {
  const detections: EvalDetection[] = [];
  const truths: EvalGroundTruth[] = [];
  images.forEach((image, i) => {
    for (const d of answers[i].detections) {
      const b = d.box;
      if (b === undefined) continue;
      detections.push({
        imageId: image.id,
        classIndex: d.classIndex,
        score: d.score,
        box: [b.xMin, b.yMin, b.xMax, b.yMax],
      });
    }
    truths.push(...groundTruths(image));
  });
  return vocEvaluate(detections, truths, { classes, use07Metric: false });
}

/** Runs the detection demo; returns the exit code. Everything it starts is stopped before it returns. */
export async function runDetectDemo(config: DetectDemoConfig, io: CliIo): Promise<number> {
  const dataRoot = path.join(config.outDir, 'data');
  mkdirSync(dataRoot, { recursive: true });
  const w = (line: string): void => void io.stdout.write(`demo-detect: ${line}\n`);
  w(
    `SSDLite on the backbone of ${config.genotype} (ImageNet network, ${config.layers} cells x ${config.channels} channels), seed ${config.seed}`,
  );
  w(`state, data, model repository and logs: ${config.outDir}`);
  const { uri } = await writeDetectionShapes(path.join(dataRoot, 'shapes-voc'), {
    format: 'voc',
    train: config.trainImages,
    test: config.testImages,
    size: config.imageSize,
    seed: config.seed,
  });
  const dataset = await openDetectionDataset(uri, { dataRoots: [dataRoot] });
  w(
    `wrote ${dataset.train.length} training and ${dataset.test.length} held-out ${config.imageSize}x${config.imageSize} images ` +
      `of ${dataset.classNames.join(', ')} in Pascal VOC format: ${uri}`,
  );
  const options = {
    name: 'demo-detect',
    outDir: config.outDir,
    dataRoot,
    startTimeoutMs: config.startTimeoutMs,
    services: ['training', 'inference'] as const,
  };
  return runWithServices(options, io, async ({ out, phase, service }) => {
    out(
      `training the detector: input ${config.inputSize}x${config.inputSize}, ${config.epochs} epoch(s) of ${config.trainImages} images, ` +
        `batch ${config.batchSize}, SGD lr ${config.learningRate} cosine, AP evaluated on the held-out images every epoch`,
    );
    const training = await phase('training', () =>
      trainToEnd(service('training'), trainingRequest(config, uri), io, out),
    );
    const model = training.model as NonNullable<Training['model']>;
    const last = training.lastEpoch;
    out(
      `published ${model.name} version ${model.version} (${model.path}); the training's last evaluation: ` +
        Object.entries(last?.evalMetrics ?? {})
          .map(([k, v]) => `${k} ${v.toFixed(3)}`)
          .join(', '),
    );
    const inference = service('inference');
    const version = await phase('model load', () =>
      waitForVersion(inference, model.name, model.version, config.startTimeoutMs),
    );
    out(
      `the inference service serves ${model.name} version ${version.version} (${version.parameterCount} parameters)`,
    );
    const files = dataset.test.map((image) => image.file);
    out(
      `detecting the ${files.length} held-out images through Detect: encoded JPEGs, ${config.requestImages} per request, ` +
        `${config.concurrency} requests in flight`,
    );
    const t0 = performance.now();
    const answers = await phase('detect', () =>
      detectAll(inference.address, model.name, model.version, files, config),
    );
    const ms = performance.now() - t0;
    const metrics = await scrapeMetrics(inference.metricsUrl).catch(() => '');
    const meanBatch = histogramMean(metrics, 'rnas_inference_batch_size');
    const { ap, mAP } = apOf(dataset.test, answers, dataset.classNames.length);
    out(
      `AP50 (VOC, all-point, IoU 0.5) ${mAP.toFixed(4)} on ${files.length} images ` +
        `(${(files.length / (ms / 1000)).toFixed(1)} images/s${meanBatch === undefined ? '' : `, mean forward batch ${meanBatch.toFixed(1)}`}); ` +
        `per class: ${dataset.classNames.map((name, k) => `${name} ${Number.isNaN(ap[k]) ? '-' : ap[k].toFixed(3)}`).join(', ')}`,
    );
    const drawDir = path.join(config.outDir, 'detections');
    mkdirSync(drawDir, { recursive: true });
    const drawn: string[] = [];
    for (let i = 0; i < Math.min(config.draw, files.length); i++) {
      const kept = answers[i].detections.filter((d) => d.score >= 0.3);
      const png = await drawDetections(await readFile(files[i]), kept);
      const file = path.join(drawDir, `${path.parse(files[i]).name}.png`);
      await writeFile(file, png);
      drawn.push(file);
    }
    out(`drawn (score >= 0.3): ${drawn.join(', ')}`);
    return detectResultLine(mAP, model.name, model.version);
  });
}
