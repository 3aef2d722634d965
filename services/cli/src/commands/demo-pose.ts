// `rnas demo --task keypoints` (`make demo-pose`): keypoint estimation on a discovered backbone,
// end to end through the services. It writes synthetic stick figures with COCO person-keypoint
// annotations, starts the training and inference services, trains SimpleBaseline on the backbone
// of a published genotype through TrainingService (which evaluates OKS AP every epoch and
// publishes the model), waits for InferenceService to load it, sends every held-out image with
// its person boxes through EstimatePose as an encoded JPEG, scores the keypoints with COCO's OKS AP
// and PCK against the annotations, draws a few skeletons, and stops the services. The last line is
// `demo-pose: AP=<0..1> model=<name> version=<n>`.
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { openKeypointDataset, writeKeypointFigures, type PersonInstance } from '@rnas/data';
import { createClient, histogramMean, scrapeMetrics } from '@rnas/grpc';
import { InferenceServiceService, Task, type ImagePoses, type Training } from '@rnas/proto';
import {
  keypointEvaluate,
  percentCorrectKeypoints,
  type KeypointDetection,
  type KeypointGroundTruth,
} from '@rnas/tasks';
import type { CliIo } from '../io';
import { runWithServices, trainToEnd, waitForVersion } from './demo-run';
import {
  denseTrainingRequest,
  inLanes,
  resolveDenseDemoConfig,
  type DenseDemoConfig,
  type DenseDemoOptions,
} from './demo-dense';
import { drawPoses } from './draw-pose';

/**
 * The keypoint demo's sizes, measured on the 2-core development machine (wasm backend;
 * docs/benchmarks.md, "Keypoints"): see there for the training speed and the AP per epoch.
 */
export const POSE_DEFAULTS = {
  seed: 1,
  genotype: 'RelativeNAS',
  channels: 16,
  layers: 5,
  // 96x64 crops: the stride-32 map is 3x2 and the heatmaps 24x16. At 64x32 (2x1, 16x8) training
  // ran 2.5x faster but reached OKS AP 0.39 after 6 epochs, against 0.54 after 4 here.
  inputSize: 96,
  imageSize: 96,
  trainImages: 600,
  testImages: 100,
  epochs: 6,
  batchSize: 16,
  learningRate: 0.1,
  concurrency: 4,
  requestImages: 4,
  draw: 4,
  model: 'figures-pose',
  startTimeoutMs: 120_000,
} as const;

export type PoseDemoOptions = DenseDemoOptions;

/** `--input-size` is the crop's height; its width is three quarters of it (SimpleBaseline's 256x192). */
export function resolvePoseDemoConfig(options: PoseDemoOptions, now: Date): DenseDemoConfig {
  const config = resolveDenseDemoConfig(options, POSE_DEFAULTS, 'demo-pose', now);
  if (cropWidth(config.inputSize) < 32) {
    throw new Error(`--input-size: expected at least 64 (a crop width of 3/4 of it, a multiple of 32)`);
  }
  return config;
}

/** The crop width of a crop height: 3/4 of it rounded down to a multiple of 32. */
export function cropWidth(height: number): number {
  return Math.floor((height * 3) / 4 / 32) * 32;
}

/** The demo's last line, which scripts parse. */
export function poseResultLine(ap: number, model: string, version: number): string {
  if (!(ap >= 0 && ap <= 1)) throw new Error(`AP ${ap} is not in [0, 1]`);
  return `demo-pose: AP=${ap.toFixed(4)} model=${model} version=${version}`;
}

/** The held-out people grouped by image, in the order their images first appear. */
function byImage(people: readonly PersonInstance[]): { file: string; people: PersonInstance[] }[] {
  const images = new Map<string, { file: string; people: PersonInstance[] }>();
  for (const person of people) {
    const entry = images.get(person.imageId);
    if (entry === undefined) images.set(person.imageId, { file: person.file, people: [person] });
    else entry.people.push(person);
  }
  return [...images.values()];
}

/** Runs the keypoint demo; returns the exit code. Everything it starts is stopped before it returns. */
export async function runPoseDemo(config: DenseDemoConfig, io: CliIo): Promise<number> {
  const dataRoot = path.join(config.outDir, 'data');
  mkdirSync(dataRoot, { recursive: true });
  const w = (line: string): void => void io.stdout.write(`demo-pose: ${line}\n`);
  const width = cropWidth(config.inputSize);
  w(
    `SimpleBaseline on the backbone of ${config.genotype} (ImageNet network, ${config.layers} cells x ${config.channels} channels), seed ${config.seed}`,
  );
  w(`state, data, model repository and logs: ${config.outDir}`);
  const { uri } = await writeKeypointFigures(path.join(dataRoot, 'figures-coco'), {
    train: config.trainImages,
    test: config.testImages,
    size: config.imageSize,
    seed: config.seed,
  });
  const dataset = await openKeypointDataset(uri, { dataRoots: [dataRoot] });
  const images = byImage(dataset.test);
  w(
    `wrote stick figures with ${dataset.keypointNames.length} keypoints (${dataset.keypointNames.join(', ')}) as COCO person keypoints: ` +
      `${dataset.train.length} training and ${dataset.test.length} held-out people in ${images.length} held-out images: ${uri}`,
  );
  const options = {
    name: 'demo-pose',
    outDir: config.outDir,
    dataRoot,
    startTimeoutMs: config.startTimeoutMs,
    services: ['training', 'inference'] as const,
  };
  const request = denseTrainingRequest(config, uri, {
    task: Task.TASK_KEYPOINTS,
    keypoints: {
      inputHeight: config.inputSize,
      inputWidth: width,
      backboneModel: '',
      keypointNames: [],
      skeleton: [],
      flipPairs: [],
      oksSigmas: [],
    },
  });
  return runWithServices(options, io, async ({ out, phase, service }) => {
    out(
      `training the pose network: ${config.inputSize}x${width} person crops, ${config.epochs} epoch(s) of ${config.trainImages} images' people, ` +
        `batch ${config.batchSize}, SGD lr ${config.learningRate} cosine, OKS AP evaluated on the held-out people every epoch`,
    );
    const training = await phase('training', () => trainToEnd(service('training'), request, io, out));
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
    out(
      `estimating the poses of the ${dataset.test.length} held-out people through EstimatePose: encoded JPEGs with their person boxes, ` +
        `${config.requestImages} images per request, ${config.concurrency} requests in flight`,
    );
    const client = createClient(InferenceServiceService, inference.address);
    const t0 = performance.now();
    let answers: ImagePoses[];
    let skeleton: number[] = [];
    try {
      answers = await phase('estimate pose', () =>
        inLanes(images, config.requestImages, config.concurrency, async (chunk) => {
          const response = await client.estimatePose(
            {
              modelName: model.name,
              version: model.version,
              images: { images: await Promise.all(chunk.map((image) => readFile(image.file))) },
              boxes: chunk.map((image) => ({
                boxes: image.people.map(({ box: [x, y, w, h] }) => ({
                  xMin: x,
                  yMin: y,
                  xMax: x + w,
                  yMax: y + h,
                })),
              })),
            },
            { deadlineMs: 120_000 },
          );
          skeleton = response.skeleton;
          return response.images;
        }),
      );
    } finally {
      client.close();
    }
    const ms = performance.now() - t0;
    const metrics = await scrapeMetrics(inference.metricsUrl).catch(() => '');
    const meanBatch = histogramMean(metrics, 'rnas_inference_batch_size');
    const detections: KeypointDetection[] = [];
    const truths: KeypointGroundTruth[] = [];
    const predicted: Float32Array[] = [];
    images.forEach((image, i) => {
      image.people.forEach((person, j) => {
        const pose = answers[i].people[j];
        const keypoints = new Float32Array(pose.keypoints.flatMap((k) => [k.x, k.y, k.score]));
        detections.push({ imageId: person.imageId, keypoints, score: pose.score });
        predicted.push(keypoints);
        truths.push({
          imageId: person.imageId,
          keypoints: person.keypoints,
          box: person.box,
          area: person.area,
        });
      });
    });
    const { AP, AP50, AP75 } = keypointEvaluate(detections, truths, { sigmas: dataset.oksSigmas });
    const pck = percentCorrectKeypoints(predicted, truths, 0.2);
    out(
      `OKS AP ${AP.toFixed(4)} (AP50 ${AP50.toFixed(4)}, AP75 ${AP75.toFixed(4)}), PCK@0.2 ${pck.toFixed(4)} on ${dataset.test.length} people ` +
        `(${(images.length / (ms / 1000)).toFixed(1)} images/s${meanBatch === undefined ? '' : `, mean forward batch ${meanBatch.toFixed(1)}`})`,
    );
    const drawDir = path.join(config.outDir, 'poses');
    mkdirSync(drawDir, { recursive: true });
    const drawn: string[] = [];
    for (let i = 0; i < Math.min(config.draw, images.length); i++) {
      const png = await drawPoses(await readFile(images[i].file), answers[i].people, skeleton);
      const file = path.join(drawDir, `${path.parse(images[i].file).name}.png`);
      await writeFile(file, png);
      drawn.push(file);
    }
    out(`drawn: ${drawn.join(', ')}`);
    return poseResultLine(Math.max(AP, 0), model.name, model.version);
  });
}
