// Segmentation's task training on synthetic shapes written as a VOC segmentation dataset: a tiny
// backbone at 64x64, two epochs, evaluation by confusion matrix; nothing left behind.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend } from '@rnas/engine';
import { openSegmentationDataset, writeSegmentationShapes, type SegmentationDataset } from '@rnas/data';
import { disposeParams, getPublishedGenotype, initParams, Sgd, tensorsBesidesDerived } from '@rnas/nas';
import type { EpochContext, TaskModelSpec, TaskRecipe } from '../task';
import { isDetectionDataset, isSegmentationDataset, taskTraining } from '../training';
import { BISENET_CONFIG } from './config';
import { normaliseImageNet, segmentationTraining, SEGMENTATION_MEAN, SEGMENTATION_STD } from './training';

let dir: string;
let dataset: SegmentationDataset;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-seg-training-'));
  const { uri } = await writeSegmentationShapes(path.join(dir, 'data', 'shapes'), {
    train: 6,
    test: 3,
    size: 64,
    seed: 3,
  });
  dataset = await openSegmentationDataset(uri, { dataRoots: [path.join(dir, 'data')] });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const RECIPE: TaskRecipe = {
  epochs: 2,
  batchSize: 3,
  seed: 4,
  trainImages: 0,
  evalImages: 0,
  cropPadding: 0,
  horizontalFlip: true,
  cutout: 0,
  auxiliaryWeight: 0.4,
  labelSmoothing: 0,
};

function spec(classes = 4): TaskModelSpec {
  return {
    task: 'segmentation',
    network: {
      variant: 'imagenet',
      genotype: getPublishedGenotype('RelativeNAS'),
      channels: 4,
      layers: 2,
      classes,
      inChannels: 3,
      auxiliary: false,
    },
    segmentation: { ...BISENET_CONFIG, inputHeight: 64, inputWidth: 64, scales: [0.75, 1, 1.25] },
  };
}

const context = (epoch: number, learningRate = 0.01): EpochContext => ({
  epoch,
  learningRate,
  dropPath: 0,
  cancelled: () => new Error('cancelled'),
});

function training(classes = 4) {
  return segmentationTraining({
    spec: spec(classes),
    dataset,
    recipe: RECIPE,
    runStep: (_epoch, _batch, step) => step(),
    checkLoss: (loss) => {
      if (!Number.isFinite(loss)) throw new Error(`loss ${loss}`);
    },
  });
}

describe('segmentationTraining', () => {
  it('trains three epochs and evaluates mIoU, pixel accuracy and IoU per class, freeing every tensor', async () => {
    const task = training();
    expect(task.labels).toEqual(dataset.classNames);
    expect(task.labels).toEqual(['background', 'circle', 'square', 'triangle']);
    expect(task.preprocessing).toEqual({
      inputHeight: 64,
      inputWidth: 64,
      channels: 3,
      mean: SEGMENTATION_MEAN,
      std: SEGMENTATION_STD,
    });
    expect(task.dataFingerprint).toMatchObject({ format: 'voc-seg', trainImages: 6, testImages: 3 });
    const params = initParams(task.network.params, 1);
    const optimizer = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4, gradClip: null });
    const before = tensorsBesidesDerived();
    const initial = await task.evaluate(params, context(0));
    const losses: number[] = [];
    for (const epoch of [0, 1, 2]) {
      const r = await task.trainEpoch(params, optimizer, context(epoch));
      expect(r.images).toBe(6);
      expect(r.accuracy).toBeNull();
      expect(Number.isFinite(r.loss)).toBe(true);
      losses.push(r.loss);
    }
    const after = await task.evaluate(params, context(2));
    expect(after.images).toBe(3);
    expect(after.loss).not.toBeNull();
    // Training lowers the loss (the first epoch starts from random heads at ln 4 and above);
    // evaluation's loss uses running statistics three steps old, too noisy to compare here.
    expect(losses[2]).toBeLessThan(losses[0]);
    expect(Number.isFinite(initial.loss)).toBe(true);
    expect(Number.isFinite(after.loss)).toBe(true);
    const m = after.metrics;
    expect(Object.keys(m)).toEqual(expect.arrayContaining(['mIoU', 'pixel_accuracy', 'IoU/background']));
    for (const [name, v] of Object.entries(m)) {
      expect(name === 'mIoU' || name === 'pixel_accuracy' || name.startsWith('IoU/')).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    const ious = Object.entries(m)
      .filter(([k]) => k.startsWith('IoU/'))
      .map(([, v]) => v);
    expect(m.mIoU).toBeCloseTo(ious.reduce((a, b) => a + b, 0) / ious.length, 6);
    // Optimiser momentum is the only state that grew: freed, nothing is left.
    optimizer.loadMomentumBuffers(new Map());
    expect(tensorsBesidesDerived()).toBe(before);
    disposeParams(params);
  });

  it('repeats: the same seed gives the same epoch', async () => {
    const losses: number[] = [];
    for (let run = 0; run < 2; run++) {
      const task = training();
      const params = initParams(task.network.params, 2);
      const optimizer = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 0, gradClip: null });
      losses.push((await task.trainEpoch(params, optimizer, context(1))).loss);
      optimizer.loadMomentumBuffers(new Map());
      disposeParams(params);
    }
    expect(losses[1]).toBe(losses[0]);
  });

  it('refuses a spec whose classes differ from the dataset’s, and a dataset of another task', () => {
    expect(() => training(3)).toThrow("spec.classes: expected the dataset's 4 classes, got 3");
    expect(isSegmentationDataset(dataset)).toBe(true);
    expect(isDetectionDataset(dataset)).toBe(false);
    const options = {
      spec: spec(),
      dataset,
      recipe: RECIPE,
      runStep: <T>(_e: number, _b: number, step: () => T) => step(),
      checkLoss: () => undefined,
    };
    expect(taskTraining(options).network.spec.task).toBe('segmentation');
    expect(() => taskTraining({ ...options, spec: { ...spec(), task: 'detection' } })).toThrow(
      `dataset ${dataset.uri}: a segmentation dataset, the task is detection`,
    );
    expect(() => taskTraining({ ...options, spec: { ...spec(), task: 'classification' } })).toThrow(
      /a segmentation dataset, the task is classification/,
    );
    const boxes = { ...dataset, format: 'voc' } as unknown as SegmentationDataset;
    expect(() => taskTraining({ ...options, dataset: boxes })).toThrow(
      /a detection dataset, the task is segmentation/,
    );
  });

  it('normalises with ImageNet’s mean and std', () => {
    const out = new Float32Array(7);
    normaliseImageNet(Uint8Array.from([0, 255, 128, 255, 0, 0]), out, 1);
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo(-0.485 / 0.229, 5);
    expect(out[2]).toBeCloseTo((1 - 0.456) / 0.224, 5);
    expect(out[3]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 5);
    expect(out[4]).toBeCloseTo((1 - 0.485) / 0.229, 5);
  });
});
