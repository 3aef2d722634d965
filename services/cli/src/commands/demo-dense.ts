// What the dense-task demos share (`rnas demo --task detection|segmentation|keypoints`): their
// flags (a published genotype's backbone, its size, the schedule, the model name), checked before
// anything starts; the StartTraining request around the task's own fields; and sending held-out
// images through an RPC a few per request with several requests in flight.
import * as path from 'node:path';
import { genotypeToProto, parseGenotypeArg } from '@rnas/nas';
import { LearningRateSchedule, NetworkVariant, type StartTrainingRequest } from '@rnas/proto';
import { defaultOutDir } from './demo-config';

/** The flags every dense demo takes. */
export interface DenseDemoOptions {
  out?: string;
  seed?: number;
  genotype?: string;
  channels?: number;
  layers?: number;
  inputSize?: number;
  epochs?: number;
  trainImages?: number;
  testImages?: number;
  concurrency?: number;
  model?: string;
}

/** A dense demo's defaults: what its flags fall back to, and the sizes no flag sets. */
export interface DenseDemoDefaults {
  readonly seed: number;
  readonly genotype: string;
  readonly channels: number;
  readonly layers: number;
  readonly inputSize: number;
  readonly imageSize: number;
  readonly trainImages: number;
  readonly testImages: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly concurrency: number;
  readonly requestImages: number;
  readonly draw: number;
  readonly model: string;
  readonly startTimeoutMs: number;
}

export interface DenseDemoConfig {
  outDir: string;
  seed: number;
  genotype: string;
  channels: number;
  layers: number;
  inputSize: number;
  imageSize: number;
  trainImages: number;
  testImages: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  concurrency: number;
  requestImages: number;
  draw: number;
  modelName: string;
  startTimeoutMs: number;
}

/** The configuration of the flags, checked before anything starts; errors name the flag. */
export function resolveDenseDemoConfig(
  options: DenseDemoOptions,
  defaults: DenseDemoDefaults,
  name: string,
  now: Date,
): DenseDemoConfig {
  const d = defaults;
  const inputSize = options.inputSize ?? d.inputSize;
  if (inputSize % 32 !== 0 || inputSize < 64 || inputSize > 1024) {
    throw new Error(`--input-size: expected a multiple of 32 in [64, 1024], got ${inputSize}`);
  }
  const layers = options.layers ?? d.layers;
  if (layers < 2) throw new Error(`--layers: expected at least 2 (two reduction cells), got ${layers}`);
  const channels = options.channels ?? d.channels;
  if (channels % 2 !== 0)
    throw new Error(`--channels: the ImageNet stem halves it: expected an even number, got ${channels}`);
  const model = options.model ?? d.model;
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(model)) {
    throw new Error(
      `--model: expected 1 to 64 characters of [a-z0-9._-] starting with a letter or digit, got ${JSON.stringify(model)}`,
    );
  }
  const genotype = options.genotype ?? d.genotype;
  parseGenotypeArg(genotype);
  const trainImages = options.trainImages ?? d.trainImages;
  const outDir = options.out ?? defaultOutDir(now).replace(/demo-/, `${name}-`);
  return {
    outDir: path.resolve(outDir),
    seed: options.seed ?? d.seed,
    genotype,
    channels,
    layers,
    inputSize,
    imageSize: d.imageSize,
    trainImages,
    testImages: options.testImages ?? d.testImages,
    epochs: options.epochs ?? d.epochs,
    batchSize: Math.min(d.batchSize, trainImages),
    learningRate: d.learningRate,
    concurrency: options.concurrency ?? d.concurrency,
    requestImages: d.requestImages,
    draw: d.draw,
    modelName: model,
    startTimeoutMs: d.startTimeoutMs,
  };
}

/** The demo's StartTraining: the backbone of the published genotype, the task's own fields. */
export function denseTrainingRequest(
  config: DenseDemoConfig,
  datasetUri: string,
  task: Pick<StartTrainingRequest, 'task' | 'detection' | 'segmentation' | 'keypoints'>,
  schedule = LearningRateSchedule.LEARNING_RATE_SCHEDULE_UNSPECIFIED,
): StartTrainingRequest {
  return {
    ...task,
    architecture: { $case: 'genotype', value: genotypeToProto(parseGenotypeArg(config.genotype)) },
    spec: {
      variant: NetworkVariant.NETWORK_VARIANT_IMAGENET,
      channels: config.channels,
      layers: config.layers,
      classes: 0,
      inputChannels: 0,
      inputSize: 0,
      auxiliary: false,
    },
    datasetUri,
    modelName: config.modelName,
    recipe: {
      epochs: config.epochs,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      learningRateSchedule: schedule,
      seed: config.seed,
    },
  };
}

/**
 * Sends `items` through `send`, `perRequest` per call and `concurrency` calls in flight; the
 * answers come back in the items' order (`send` answers one per item of its chunk).
 */
export async function inLanes<T, R>(
  items: readonly T[],
  perRequest: number,
  concurrency: number,
  send: (chunk: readonly T[]) => Promise<readonly R[]>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const start = next;
      next += perRequest;
      const answers = await send(items.slice(start, start + perRequest));
      answers.forEach((answer, i) => (results[start + i] = answer));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return results;
}
