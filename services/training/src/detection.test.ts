// Detection through the training service: a tiny SSDLite trained on synthetic shapes in VOC format
// publishes a detector (task.json, AP in every epoch report), a classification model seeds its
// backbone by name, and every detection-specific mistake in a request is refused at the door.
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { writeDetectionShapes } from '@rnas/data';
import { loadPublishedModel, publishModel, syntheticArtifact } from '@rnas/model';
import {
  DetectionConfig,
  NetworkVariant,
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
  TINY_SPEC,
  tinyDataRoot,
  tinyRequest,
  trainingClient,
  type TrainingClient,
} from './test-util';

let dir: string;
let dataRoot: string;
let classificationUri: string;
let vocUri: string;
let service: RunningService;
let client: TrainingClient;

beforeAll(async () => {
  buildService();
  ({ dir, dataRoot, datasetUri: classificationUri } = await tinyDataRoot());
  ({ uri: vocUri } = await writeDetectionShapes(path.join(dataRoot, 'shapes-voc'), {
    format: 'voc',
    train: 12,
    test: 4,
    size: 64,
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

/** A detector of 3 cells x 4 channels at input 64, one epoch of the 12 training images. */
function detectionRequest(overrides: Partial<StartTrainingRequest> = {}): StartTrainingRequest {
  return tinyRequest(vocUri, {
    task: Task.TASK_DETECTION,
    detection: DetectionConfig.fromPartial({
      inputSize: 64,
      boxSizes: [],
      aspectRatios: [],
      backboneModel: '',
    }),
    architecture: { $case: 'genotype', value: genotypeToProto(GENOTYPE) },
    spec: {
      variant: NetworkVariant.NETWORK_VARIANT_UNSPECIFIED,
      channels: 4,
      layers: 3,
      classes: 0,
      inputChannels: 0,
      inputSize: 0,
      auxiliary: false,
    },
    recipe: { epochs: 1, batchSize: 4, learningRate: 0.01, learningRateSchedule: 0, seed: 5 },
    modelName: 'detector',
    ...overrides,
  });
}

async function finish(request: StartTrainingRequest): Promise<Training> {
  const { training } = await client.startTraining(request);
  const id = (training as Training).id;
  await client.watchAll(id);
  return (await client.getTraining({ trainingId: id })).training as Training;
}

describe('detection training through TrainingService', () => {
  it('trains SSDLite on a VOC dataset, reports AP every epoch and publishes a detector', async () => {
    const done = await finish(detectionRequest());
    expect(done.error).toBe('');
    expect(done.state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    expect(done.task).toBe(Task.TASK_DETECTION);
    // The SSDLite defaults fill what the request left out.
    expect(done.detection).toMatchObject({
      inputSize: 64,
      boxSizes: [60, 105, 150, 195, 240, 285, 330],
      aspectRatios: [2, 3],
      matchIou: 0.5,
      freezeBackboneEpochs: 0,
      backboneLrScale: 1,
    });
    expect(done.spec).toMatchObject({
      variant: NetworkVariant.NETWORK_VARIANT_IMAGENET,
      classes: 3,
      inputSize: 64,
    });
    // SSDLite's recipe, not the CIFAR one: no auxiliary head, drop path, cutout or clipping.
    expect(done.recipe).toMatchObject({
      weightDecay: 5e-4,
      dropPath: 0,
      cutout: 0,
      gradClip: 0,
      auxiliaryWeight: 0,
    });
    const metrics = done.lastEpoch?.evalMetrics ?? {};
    for (const name of ['AP50', 'AP50_11pt', 'AP', 'AP75', 'AR100']) {
      expect(metrics[name]).toBeGreaterThanOrEqual(0);
      expect(metrics[name]).toBeLessThanOrEqual(1);
    }
    const artifact = await loadPublishedModel(path.join(dir, 'models'), 'detector');
    expect(artifact.task).toBe('detection');
    expect(artifact.detection?.inputSize).toBe(64);
    expect(artifact.labels).toEqual(['circle', 'square', 'triangle']);
    expect(artifact.preprocessing).toMatchObject({ inputHeight: 64, inputWidth: 64, channels: 3 });
    expect(artifact.metadata.eval_AP50).toBe(String(metrics.AP50));
  });

  it('seeds the backbone from a published classifier of the same backbone, and fails naming the field when it cannot', async () => {
    const repo = path.join(dir, 'models');
    const classifier = syntheticArtifact({
      variant: 'imagenet',
      channels: 4,
      layers: 3,
      inChannels: 3,
      classes: 5,
      inputSize: 224,
    });
    await publishModel(repo, 'backbone', classifier);
    const seeded = await finish(
      detectionRequest({
        detection: DetectionConfig.fromPartial({
          inputSize: 64,
          boxSizes: [],
          aspectRatios: [],
          backboneModel: 'backbone:1',
          freezeBackboneEpochs: 1,
        }),
        modelName: 'seeded',
      }),
    );
    expect(seeded.error).toBe('');
    expect(seeded.state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    // The backbone was frozen for the only epoch: its weights are the classifier's, renamed.
    const detector = await loadPublishedModel(repo, 'seeded');
    const name = 'cells.0.preprocess1.op.1.weight';
    expect(Array.from(detector.weights[`base_net.${name}`].data as Float32Array)).toEqual(
      Array.from(classifier.weights[name].data as Float32Array),
    );

    const missing = await finish(
      detectionRequest({
        detection: DetectionConfig.fromPartial({
          inputSize: 64,
          boxSizes: [],
          aspectRatios: [],
          backboneModel: 'nothing',
        }),
        modelName: 'm2',
      }),
    );
    expect(missing.state).toBe(TrainingState.TRAINING_STATE_FAILED);
    expect(missing.error).toMatch(/detection\.backbone_model "nothing"/);
    await publishModel(
      repo,
      'other',
      syntheticArtifact({ variant: 'imagenet', channels: 6, layers: 3, inChannels: 3, inputSize: 224 }),
    );
    const other = await finish(
      detectionRequest({
        detection: DetectionConfig.fromPartial({
          inputSize: 64,
          boxSizes: [],
          aspectRatios: [],
          backboneModel: 'other',
        }),
        modelName: 'm3',
      }),
    );
    expect(other.state).toBe(TrainingState.TRAINING_STATE_FAILED);
    expect(other.error).toMatch(/detection\.backbone_model "other": channels is 6, the backbone has 4/);
  });

  it('refuses detection mistakes at the door with INVALID_ARGUMENT naming the field', async () => {
    const refused = async (request: StartTrainingRequest, message: RegExp): Promise<void> => {
      const error = await failure(client.startTraining(request));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(message);
    };
    await refused(
      detectionRequest({
        detection: DetectionConfig.fromPartial({
          inputSize: 100,
          boxSizes: [],
          aspectRatios: [],
          backboneModel: '',
        }),
      }),
      /detection\.input_size.*multiple of 32/,
    );
    await refused(
      detectionRequest({
        detection: DetectionConfig.fromPartial({
          inputSize: 64,
          boxSizes: [1, 2, 3],
          aspectRatios: [],
          backboneModel: '',
        }),
      }),
      /detection\.box_sizes/,
    );
    await refused(
      detectionRequest({
        detection: DetectionConfig.fromPartial({ boxSizes: [], aspectRatios: [1], backboneModel: '' }),
      }),
      /detection\.aspect_ratios/,
    );
    await refused(
      detectionRequest({
        detection: DetectionConfig.fromPartial({
          boxSizes: [],
          aspectRatios: [],
          matchIou: 1.5,
          backboneModel: '',
        }),
      }),
      /detection\.match_iou/,
    );
    await refused(
      detectionRequest({
        detection: DetectionConfig.fromPartial({ boxSizes: [], aspectRatios: [], backboneModel: '../evil' }),
      }),
      /detection\.backbone_model/,
    );
    await refused(detectionRequest({ datasetUri: classificationUri }), /dataset_uri.*a detection dataset/);
    await refused(tinyRequest(vocUri), /dataset_uri.*set task TASK_DETECTION/);
    await refused(
      tinyRequest(classificationUri, {
        detection: DetectionConfig.fromPartial({ boxSizes: [], aspectRatios: [], backboneModel: '' }),
      }),
      /detection.*only with task TASK_DETECTION/,
    );
    await refused(
      detectionRequest({ spec: { ...TINY_SPEC, variant: NetworkVariant.NETWORK_VARIANT_CIFAR } }),
      /spec\.variant.*ImageNet variant/,
    );
    await refused(
      detectionRequest({ task: 7 as Task }),
      /task.*TASK_CLASSIFICATION, TASK_DETECTION, TASK_SEGMENTATION or TASK_KEYPOINTS/,
    );
    await refused(
      detectionRequest({
        detection: DetectionConfig.fromPartial({ augmentation: 9 as DetectionConfig['augmentation'] }),
      }),
      /detection\.augmentation.*DETECTION_AUGMENTATION_SSD or DETECTION_AUGMENTATION_MIRROR/,
    );
  });
});
