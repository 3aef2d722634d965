// `rnas demo --task segmentation` (`make demo-segment`): segmentation on a discovered backbone, end
// to end through the services. It writes a synthetic shapes dataset in Pascal VOC segmentation
// format (palette PNG label maps), starts the training and inference services, trains BiSeNet on
// the backbone of a published genotype through TrainingService (which evaluates mIoU every epoch
// and publishes the model), waits for InferenceService to load it, sends every held-out image
// through Segment as an encoded JPEG, scores the returned label maps (at each image's own size)
// against the annotations with a confusion matrix, writes a few colour overlays, and stops the
// services. The last line is `demo-segment: mIoU=<0..1> model=<name> version=<n>`.
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  decodeSegmentationSample,
  encodeLabelPng,
  openSegmentationDataset,
  writeSegmentationShapes,
} from '@rnas/data';
import { createClient, histogramMean, scrapeMetrics } from '@rnas/grpc';
import {
  InferenceServiceService,
  LabelMapEncoding,
  LearningRateSchedule,
  Task,
  type ImageSegmentation,
  type Training,
} from '@rnas/proto';
import { ConfusionMatrix } from '@rnas/tasks';
import type { CliIo } from '../io';
import { runWithServices, trainToEnd, waitForVersion } from './demo-run';
import {
  denseTrainingRequest,
  inLanes,
  resolveDenseDemoConfig,
  type DenseDemoConfig,
  type DenseDemoOptions,
} from './demo-dense';
import { overlayLabelMap } from './segment-overlay';

/**
 * The segmentation demo's sizes, measured on the 2-core development machine (wasm backend;
 * docs/benchmarks.md, "Segmentation"): see there for the training speed and the mIoU per epoch.
 */
export const SEGMENT_DEFAULTS = {
  seed: 1,
  genotype: 'RelativeNAS',
  channels: 16,
  layers: 5,
  inputSize: 64,
  imageSize: 64,
  trainImages: 1000,
  testImages: 100,
  epochs: 8,
  batchSize: 16,
  learningRate: 0.02,
  concurrency: 4,
  requestImages: 4,
  draw: 4,
  model: 'shapes-segmenter',
  startTimeoutMs: 120_000,
} as const;

export type SegmentDemoOptions = DenseDemoOptions;

export function resolveSegmentDemoConfig(options: SegmentDemoOptions, now: Date): DenseDemoConfig {
  return resolveDenseDemoConfig(options, SEGMENT_DEFAULTS, 'demo-segment', now);
}

/** The demo's last line, which scripts parse. */
export function segmentResultLine(mIoU: number, model: string, version: number): string {
  if (!(mIoU >= 0 && mIoU <= 1)) throw new Error(`mIoU ${mIoU} is not in [0, 1]`);
  return `demo-segment: mIoU=${mIoU.toFixed(4)} model=${model} version=${version}`;
}

/** Runs the segmentation demo; returns the exit code. Everything it starts is stopped before it returns. */
export async function runSegmentDemo(config: DenseDemoConfig, io: CliIo): Promise<number> {
  const dataRoot = path.join(config.outDir, 'data');
  mkdirSync(dataRoot, { recursive: true });
  const w = (line: string): void => void io.stdout.write(`demo-segment: ${line}\n`);
  w(
    `BiSeNet on the backbone of ${config.genotype} (ImageNet network, ${config.layers} cells x ${config.channels} channels), seed ${config.seed}`,
  );
  w(`state, data, model repository and logs: ${config.outDir}`);
  const { uri } = await writeSegmentationShapes(path.join(dataRoot, 'shapes-voc-seg'), {
    train: config.trainImages,
    test: config.testImages,
    size: config.imageSize,
    seed: config.seed,
  });
  const dataset = await openSegmentationDataset(uri, { dataRoots: [dataRoot] });
  w(
    `wrote ${dataset.train.length} training and ${dataset.test.length} held-out ${config.imageSize}x${config.imageSize} images ` +
      `of ${dataset.classNames.join(', ')} in Pascal VOC segmentation format: ${uri}`,
  );
  const options = {
    name: 'demo-segment',
    outDir: config.outDir,
    dataRoot,
    startTimeoutMs: config.startTimeoutMs,
    services: ['training', 'inference'] as const,
  };
  const request = denseTrainingRequest(
    config,
    uri,
    {
      task: Task.TASK_SEGMENTATION,
      segmentation: {
        inputHeight: config.inputSize,
        inputWidth: config.inputSize,
        // Mild rescaling: BiSeNet's 0.75-2 range is made for 1024-pixel crops of 2048x1024 scenes.
        scales: [0.75, 1, 1.25],
        backboneModel: '',
      },
    },
    LearningRateSchedule.LEARNING_RATE_SCHEDULE_POLY,
  );
  return runWithServices(options, io, async ({ out, phase, service }) => {
    out(
      `training the segmenter: input ${config.inputSize}x${config.inputSize}, ${config.epochs} epoch(s) of ${config.trainImages} images, ` +
        `batch ${config.batchSize}, SGD lr ${config.learningRate} poly (head x10), mIoU evaluated on the held-out images every epoch`,
    );
    const training = await phase('training', () => trainToEnd(service('training'), request, io, out));
    const model = training.model as NonNullable<Training['model']>;
    const last = training.lastEpoch;
    out(
      `published ${model.name} version ${model.version} (${model.path}); the training's last evaluation: ` +
        Object.entries(last?.evalMetrics ?? {})
          .filter(([k]) => !k.startsWith('IoU/'))
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
      `segmenting the ${files.length} held-out images through Segment: encoded JPEGs, ${config.requestImages} per request, ` +
        `${config.concurrency} requests in flight, raw label maps`,
    );
    const client = createClient(InferenceServiceService, inference.address);
    const t0 = performance.now();
    let answers: ImageSegmentation[];
    try {
      answers = await phase('segment', () =>
        inLanes(files, config.requestImages, config.concurrency, async (chunk) => {
          const images = await Promise.all(chunk.map((file) => readFile(file)));
          const response = await client.segment(
            {
              modelName: model.name,
              version: model.version,
              input: { $case: 'images', value: { images } },
              encoding: LabelMapEncoding.LABEL_MAP_ENCODING_RAW,
            },
            { deadlineMs: 120_000 },
          );
          return response.images;
        }),
      );
    } finally {
      client.close();
    }
    const ms = performance.now() - t0;
    const metrics = await scrapeMetrics(inference.metricsUrl).catch(() => '');
    const meanBatch = histogramMean(metrics, 'rnas_inference_batch_size');
    const confusion = new ConfusionMatrix(dataset.classNames.length);
    for (let i = 0; i < files.length; i++) {
      const truth = await decodeSegmentationSample(dataset.test[i], dataset);
      const answer = answers[i];
      if (answer.width !== truth.width || answer.height !== truth.height) {
        throw new Error(
          `${files[i]}: Segment answered a ${answer.width}x${answer.height} label map for a ${truth.width}x${truth.height} image`,
        );
      }
      confusion.add(answer.labelMap, truth.mask, files[i]);
    }
    const { mIoU, pixelAccuracy, iou } = confusion.metrics();
    out(
      `mIoU ${mIoU.toFixed(4)}, pixel accuracy ${pixelAccuracy.toFixed(4)} on ${files.length} images at their own size ` +
        `(${(files.length / (ms / 1000)).toFixed(1)} images/s${meanBatch === undefined ? '' : `, mean forward batch ${meanBatch.toFixed(1)}`}); ` +
        `IoU per class: ${dataset.classNames.map((name, k) => `${name} ${iou[k] === null ? '-' : (iou[k] as number).toFixed(3)}`).join(', ')}`,
    );
    const drawDir = path.join(config.outDir, 'overlays');
    mkdirSync(drawDir, { recursive: true });
    const drawn: string[] = [];
    for (let i = 0; i < Math.min(config.draw, files.length); i++) {
      const { labelMap, width, height } = answers[i];
      const png = await overlayLabelMap(await readFile(files[i]), encodeLabelPng(labelMap, width, height));
      const file = path.join(drawDir, `${path.parse(files[i]).name}.png`);
      await writeFile(file, png);
      drawn.push(file);
    }
    out(`overlays: ${drawn.join(', ')}`);
    return segmentResultLine(mIoU, model.name, model.version);
  });
}
