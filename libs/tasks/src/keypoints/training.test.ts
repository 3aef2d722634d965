import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend } from '@rnas/engine';
import {
  decodePersonImage,
  invertAffine,
  keypointSample,
  openKeypointDataset,
  writeKeypointFigures,
  type KeypointDataset,
} from '@rnas/data';
import {
  disposeParams,
  getPublishedGenotype,
  initParams,
  Sgd,
  type NetworkSpec,
  tensorsBesidesDerived,
} from '@rnas/nas';
import type { EpochContext, TaskModelSpec, TaskRecipe } from '../task';
import { taskTraining } from '../training';
import { decodeHeatmaps, keypointsToImage } from './decode';
import { keypointEvaluate, percentCorrectKeypoints } from './metrics';
import { KeypointNetwork } from './network';
import { keypointTargets } from './targets';
import { keypointTraining, personGroundTruth, personScore } from './training';

const RECIPE: TaskRecipe = {
  epochs: 2,
  batchSize: 4,
  seed: 3,
  trainImages: 8,
  evalImages: 6,
  cropPadding: 0,
  horizontalFlip: false,
  cutout: 0,
  auxiliaryWeight: 0,
  labelSmoothing: 0,
};

function spec(classes: number, keypoints: Record<string, unknown> = {}): TaskModelSpec {
  const network: NetworkSpec = {
    variant: 'imagenet',
    genotype: getPublishedGenotype('RelativeNAS'),
    channels: 4,
    layers: 3,
    classes,
    inChannels: 3,
    auxiliary: false,
  };
  return {
    task: 'keypoints',
    network,
    keypoints: { inputHeight: 64, inputWidth: 32, ...keypoints } as never,
  };
}

const context = (epoch: number): EpochContext => ({
  epoch,
  learningRate: 0.05,
  dropPath: 0,
  cancelled: () => new Error('cancelled'),
});

const options = (dataset: KeypointDataset, s: TaskModelSpec) => ({
  spec: s,
  dataset,
  recipe: RECIPE,
  runStep: <T>(_e: number, _b: number, step: () => T) => step(),
  checkLoss: (loss: number) => {
    if (!Number.isFinite(loss)) throw new Error(`loss ${loss}`);
  },
});

describe('keypointTraining', () => {
  let dir: string;
  let dataset: KeypointDataset;

  beforeAll(async () => {
    await initBackend('wasm');
    dir = await mkdtemp(path.join(tmpdir(), 'rnas-kp-train-'));
    const { uri } = await writeKeypointFigures(path.join(dir, 'figures'), {
      train: 6,
      test: 3,
      size: 64,
      seed: 2,
    });
    dataset = await openKeypointDataset(uri, { dataRoots: [dir] });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('trains two epochs and evaluates AP, AP50, AP75 and PCK, leaking no tensor', async () => {
    const k = dataset.keypointNames.length;
    const training = keypointTraining(options(dataset, spec(k)));
    const network = training.network as KeypointNetwork;
    // The model records the dataset's keypoints.
    expect(network.spec.keypoints.keypointNames).toEqual(dataset.keypointNames);
    expect(network.spec.keypoints.skeleton).toEqual(dataset.skeleton);
    expect(network.spec.keypoints.flipPairs).toEqual(dataset.flipPairs);
    expect(network.spec.keypoints.oksSigmas).toEqual(dataset.oksSigmas);
    expect(training.labels).toEqual(dataset.keypointNames);
    expect(training.preprocessing).toEqual({
      inputHeight: 64,
      inputWidth: 32,
      channels: 3,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    const params = initParams(network.params, 1);
    const optimizer = new Sgd({ lr: 0.05, momentum: 0.9, weightDecay: 0, gradClip: null });
    const before = tensorsBesidesDerived();
    const losses: number[] = [];
    for (const epoch of [0, 1]) {
      const result = await training.trainEpoch(params, optimizer, context(epoch));
      expect(result.images).toBe(8);
      expect(result.accuracy).toBeNull();
      expect(Number.isFinite(result.loss) && result.loss > 0).toBe(true);
      losses.push(result.loss);
    }
    const momentum = optimizer.momentumBuffers().size;
    expect(momentum).toBeGreaterThan(0);
    expect(tensorsBesidesDerived()).toBe(before + momentum);
    const evaluation = await training.evaluate(params, { cancelled: () => new Error('cancelled') });
    expect(evaluation.images).toBe(Math.min(6, dataset.test.length));
    expect(Object.keys(evaluation.metrics).sort()).toEqual(['AP', 'AP50', 'AP75', 'PCK']);
    for (const v of Object.values(evaluation.metrics)) expect(v >= 0 && v <= 1).toBe(true);
    expect(evaluation.loss! > 0).toBe(true);
    expect(tensorsBesidesDerived()).toBe(before + momentum);
    // The same seed gives the same epoch.
    const again = keypointTraining(options(dataset, spec(k)));
    const params2 = initParams(network.params, 1);
    const optimizer2 = new Sgd({ lr: 0.05, momentum: 0.9, weightDecay: 0, gradClip: null });
    expect((await again.trainEpoch(params2, optimizer2, context(0))).loss).toBe(losses[0]);
    optimizer.dispose();
    optimizer2.dispose();
    disposeParams(params);
    disposeParams(params2);
  });

  it('maps heatmaps back to the image: decoding the targets lands within the crop stride', async () => {
    const k = dataset.keypointNames.length;
    const predictions: Float32Array[] = [];
    for (const person of dataset.test) {
      const { pixels } = await decodePersonImage(person);
      const crop = {
        inputWidth: 32,
        inputHeight: 64,
        scaleFactor: 0,
        rotationFactor: 0,
        flipPairs: dataset.flipPairs,
      };
      const sample = keypointSample(person, pixels, crop, null);
      const t = keypointTargets(sample.keypoints, {
        heatmapHeight: 16,
        heatmapWidth: 8,
        sigma: 2,
        stride: 4,
      });
      const decoded = decodeHeatmaps(t.heatmaps, [1, 16, 8, k], 4);
      predictions.push(keypointsToImage(decoded, invertAffine(sample.affine)));
    }
    const truths = dataset.test.map(personGroundTruth);
    expect(percentCorrectKeypoints(predictions, truths)).toBe(1);
    const detections = predictions.map((keypoints, i) => ({
      imageId: truths[i].imageId,
      keypoints,
      score: 1,
    }));
    expect(keypointEvaluate(detections, truths, { sigmas: dataset.oksSigmas }).AP50).toBeCloseTo(1, 12);
  });

  it('goes through taskTraining and refuses mismatched specs and datasets', () => {
    const k = dataset.keypointNames.length;
    expect(taskTraining(options(dataset, spec(k))).network).toBeInstanceOf(KeypointNetwork);
    expect(() => keypointTraining(options(dataset, spec(k + 1)))).toThrow(
      new RegExp(`spec.classes: expected the dataset's ${k} keypoints .*, got ${k + 1}`),
    );
    expect(() =>
      taskTraining({
        ...options(dataset, spec(k)),
        spec: { ...spec(k), task: 'detection', detection: undefined },
      }),
    ).toThrow(/a keypoints dataset, the task is detection/);
    expect(() => keypointTraining(options(dataset, spec(k, { inputHeight: 48 })))).toThrow(
      /keypoints.inputHeight: expected a multiple of 32/,
    );
  });

  it('stops between batches when cancelled', async () => {
    const training = keypointTraining(options(dataset, spec(dataset.keypointNames.length)));
    const params = initParams(training.network.params, 1);
    const optimizer = new Sgd({ lr: 0.05, momentum: 0, weightDecay: 0, gradClip: null });
    const controller = new AbortController();
    controller.abort();
    await expect(
      training.trainEpoch(params, optimizer, { ...context(0), signal: controller.signal }),
    ).rejects.toThrow('cancelled');
    await expect(
      training.evaluate(params, { signal: controller.signal, cancelled: () => new Error('cancelled') }),
    ).rejects.toThrow('cancelled');
    optimizer.dispose();
    disposeParams(params);
  });
});

describe('personScore', () => {
  it('averages the keypoint scores above 0.2, 0 when none is', () => {
    expect(personScore([0, 0, 0.9, 0, 0, 0.1, 0, 0, 0.5])).toBeCloseTo(0.7, 12);
    expect(personScore([0, 0, 0.2, 0, 0, -1])).toBe(0);
    expect(personScore([])).toBe(0);
  });
});
