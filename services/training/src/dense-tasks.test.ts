// Segmentation and keypoints through the training service: a tiny BiSeNet on synthetic shape masks
// (VOC segmentation format) and a tiny SimpleBaseline on synthetic stick figures (COCO keypoints)
// train, report their task's metrics every epoch and publish models that record their task,
// config and labels; a classification model seeds a backbone by name; task, config and dataset
// mismatches are refused at the door naming the field.
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { writeKeypointFigures, writeSegmentationShapes } from '@rnas/data';
import { loadPublishedModel, publishModel, syntheticArtifact } from '@rnas/model';
import {
  KeypointConfig,
  LearningRateSchedule,
  NetworkVariant,
  SegmentationConfig,
  Task,
  TrainingState,
  type StartTrainingRequest,
  type Training,
} from '@rnas/proto';
import { genotypeToProto, getPublishedGenotype } from '@rnas/nas';
import { loadTrainingServiceConfig } from './config';
import { startTrainingService, type RunningService } from './service';
import {
  buildService,
  failure,
  memoryLogger,
  serviceArgs,
  tinyDataRoot,
  tinyRequest,
  trainingClient,
  type TrainingClient,
} from './test-util';

let dir: string;
let dataRoot: string;
let classificationUri: string;
let segUri: string;
let poseUri: string;
let service: RunningService;
let client: TrainingClient;

beforeAll(async () => {
  buildService();
  ({ dir, dataRoot, datasetUri: classificationUri } = await tinyDataRoot());
  ({ uri: segUri } = await writeSegmentationShapes(path.join(dataRoot, 'shapes-seg'), {
    train: 8,
    test: 3,
    size: 64,
    seed: 3,
  }));
  ({ uri: poseUri } = await writeKeypointFigures(path.join(dataRoot, 'figures'), {
    train: 6,
    test: 3,
    size: 96,
    seed: 3,
  }));
  const config = loadTrainingServiceConfig(serviceArgs(dir, dataRoot), {});
  service = await startTrainingService(config, { logger: memoryLogger().logger, shutdownSignals: [] });
  client = trainingClient(service.port);
}, 300_000);

afterAll(async () => {
  client?.close();
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

const GENOTYPE = getPublishedGenotype('DARTS_V2');
const TINY_BACKBONE = {
  variant: NetworkVariant.NETWORK_VARIANT_UNSPECIFIED,
  channels: 4,
  layers: 3,
  classes: 0,
  inputChannels: 0,
  inputSize: 0,
  auxiliary: false,
};

function segmentationRequest(overrides: Partial<StartTrainingRequest> = {}): StartTrainingRequest {
  return tinyRequest(segUri, {
    task: Task.TASK_SEGMENTATION,
    segmentation: SegmentationConfig.fromPartial({ inputHeight: 64, inputWidth: 64, scales: [1] }),
    architecture: { $case: 'genotype', value: genotypeToProto(GENOTYPE) },
    spec: TINY_BACKBONE,
    recipe: { epochs: 2, batchSize: 4, learningRate: 0.01, learningRateSchedule: 0, seed: 5 },
    modelName: 'segmenter',
    ...overrides,
  });
}

function keypointRequest(overrides: Partial<StartTrainingRequest> = {}): StartTrainingRequest {
  return tinyRequest(poseUri, {
    task: Task.TASK_KEYPOINTS,
    keypoints: KeypointConfig.fromPartial({ inputHeight: 64, inputWidth: 32 }),
    architecture: { $case: 'genotype', value: genotypeToProto(GENOTYPE) },
    spec: TINY_BACKBONE,
    recipe: { epochs: 1, batchSize: 4, learningRate: 0.01, learningRateSchedule: 0, seed: 5 },
    modelName: 'pose',
    ...overrides,
  });
}

async function finish(request: StartTrainingRequest): Promise<Training> {
  const { training } = await client.startTraining(request);
  const id = (training as Training).id;
  await client.watchAll(id);
  return (await client.getTraining({ trainingId: id })).training as Training;
}

async function refused(request: StartTrainingRequest, message: RegExp): Promise<void> {
  const err = await failure(client.startTraining(request));
  expect({ code: err.code, details: err.details }).toEqual({
    code: status.INVALID_ARGUMENT,
    details: expect.stringMatching(message),
  });
}

describe('segmentation training through TrainingService', () => {
  it('trains BiSeNet with the poly schedule, reports mIoU every epoch and publishes a segmenter', async () => {
    const done = await finish(segmentationRequest());
    expect(done.error).toBe('');
    expect(done.state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    expect(done.task).toBe(Task.TASK_SEGMENTATION);
    expect(done.segmentation).toEqual({
      inputHeight: 64,
      inputWidth: 64,
      scales: [1],
      backboneModel: '',
      headLrScale: 10,
      auxiliaryWeight: 1,
    });
    // BiSeNet's recipe: poly schedule, weight decay 5e-4, none of the classification extras.
    expect(done.recipe).toMatchObject({
      learningRateSchedule: LearningRateSchedule.LEARNING_RATE_SCHEDULE_POLY,
      weightDecay: 5e-4,
      dropPath: 0,
      cutout: 0,
    });
    expect(done.spec).toMatchObject({ variant: NetworkVariant.NETWORK_VARIANT_IMAGENET, classes: 4 });
    const metrics = done.lastEpoch?.evalMetrics ?? {};
    expect(metrics.mIoU).toBeGreaterThanOrEqual(0);
    expect(metrics.mIoU).toBeLessThanOrEqual(1);
    expect(metrics.pixel_accuracy).toBeGreaterThanOrEqual(0);
    const model = await loadPublishedModel(path.join(dir, 'models'), 'segmenter');
    expect(model.task).toBe('segmentation');
    expect(model.labels).toEqual(['background', 'circle', 'square', 'triangle']);
    expect(model.segmentation).toMatchObject({ inputHeight: 64, inputWidth: 64 });
  }, 300_000);

  it('seeds the backbone from a classification model and refuses a model of another backbone', async () => {
    const repo = path.join(dir, 'models');
    await publishModel(
      repo,
      'seed-cls',
      syntheticArtifact({
        variant: 'imagenet',
        channels: 4,
        layers: 3,
        classes: 5,
        inChannels: 3,
        inputSize: 224,
        genotype: 'DARTS_V2',
      }),
    );
    const seeded = await finish(
      segmentationRequest({
        segmentation: SegmentationConfig.fromPartial({
          inputHeight: 64,
          inputWidth: 64,
          scales: [1],
          backboneModel: 'seed-cls',
        }),
        recipe: { epochs: 1, batchSize: 4, learningRate: 0.01, learningRateSchedule: 0, seed: 5 },
        modelName: 'seeded-seg',
      }),
    );
    expect(seeded.error).toBe('');
    expect(seeded.state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    await publishModel(
      repo,
      'other-cls',
      syntheticArtifact({
        variant: 'imagenet',
        channels: 6,
        layers: 3,
        classes: 5,
        inChannels: 3,
        inputSize: 224,
        genotype: 'DARTS_V2',
      }),
    );
    const other = await finish(
      segmentationRequest({
        segmentation: SegmentationConfig.fromPartial({
          inputHeight: 64,
          inputWidth: 64,
          backboneModel: 'other-cls',
        }),
        modelName: 'other-seg',
      }),
    );
    expect(other.state).toBe(TrainingState.TRAINING_STATE_FAILED);
    expect(other.error).toMatch(
      /segmentation\.backbone_model "other-cls": channels is 6, the backbone has 4/,
    );
  }, 300_000);
});

describe('keypoint training through TrainingService', () => {
  it('trains SimpleBaseline, reports OKS AP and PCK and publishes a model with the dataset keypoints', async () => {
    const done = await finish(keypointRequest());
    expect(done.error).toBe('');
    expect(done.state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    expect(done.task).toBe(Task.TASK_KEYPOINTS);
    expect(done.keypoints).toMatchObject({
      inputHeight: 64,
      inputWidth: 32,
      heatmapSigma: 2,
      flipTest: true,
    });
    const metrics = done.lastEpoch?.evalMetrics ?? {};
    expect(Object.keys(metrics)).toEqual(expect.arrayContaining(['AP', 'PCK']));
    const model = await loadPublishedModel(path.join(dir, 'models'), 'pose');
    expect(model.task).toBe('keypoints');
    const config = model.keypoints;
    expect(config?.keypointNames.length).toBeGreaterThan(2);
    expect(model.labels).toEqual(config?.keypointNames);
    expect(config?.skeleton.length).toBeGreaterThan(0);
    expect(config?.flipPairs.length).toBeGreaterThan(0);
    expect(config?.oksSigmas.length).toBe(config?.keypointNames.length);
  }, 300_000);
});

describe('dense-task requests refused at the door', () => {
  it('names the field and the value', async () => {
    await refused(
      segmentationRequest({ datasetUri: classificationUri }),
      /dataset_uri.*a segmentation dataset/,
    );
    await refused(segmentationRequest({ datasetUri: poseUri }), /dataset_uri.*set task TASK_KEYPOINTS/);
    await refused(keypointRequest({ datasetUri: segUri }), /dataset_uri.*set task TASK_SEGMENTATION/);
    await refused(
      tinyRequest(classificationUri, {
        segmentation: SegmentationConfig.fromPartial({ inputHeight: 64 }),
      }),
      /segmentation.*only with task TASK_SEGMENTATION/,
    );
    await refused(
      segmentationRequest({ keypoints: KeypointConfig.fromPartial({}) }),
      /keypoints.*only with task TASK_KEYPOINTS/,
    );
    await refused(
      segmentationRequest({ segmentation: SegmentationConfig.fromPartial({ inputHeight: 100 }) }),
      /segmentation\.input_height.*multiple of 32/,
    );
    await refused(
      segmentationRequest({ segmentation: SegmentationConfig.fromPartial({ scales: [9] }) }),
      /segmentation\.scales/,
    );
    await refused(
      keypointRequest({ keypoints: KeypointConfig.fromPartial({ skeleton: [0, 1, 2] }) }),
      /keypoints\.skeleton.*even/,
    );
    await refused(
      keypointRequest({ keypoints: KeypointConfig.fromPartial({ heatmapSigma: 0 }) }),
      /keypoints\.heatmap_sigma/,
    );
    await refused(
      keypointRequest({ spec: { ...TINY_BACKBONE, variant: NetworkVariant.NETWORK_VARIANT_CIFAR } }),
      /spec\.variant.*ImageNet variant/,
    );
    await refused(
      segmentationRequest({ spec: { ...TINY_BACKBONE, inputSize: 32 } }),
      /spec\.input_size.*segmentation\.input_height/,
    );
  });
});
