// The trainer on segmentation (BiSeNet) and keypoints (SimpleBaseline): tiny backbones on
// synthetic data on disk. As for classification and detection: every epoch reports the task's
// metrics, no tensor is left behind, an interrupted training resumes to exactly the uninterrupted
// result, and the artifact records the task, its config (keypoints: the dataset's) and labels.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend, tf, type HostTensor } from '@rnas/engine';
import {
  openKeypointDataset,
  openSegmentationDataset,
  writeKeypointFigures,
  writeSegmentationShapes,
  type KeypointDataset,
  type SegmentationDataset,
} from '@rnas/data';
import { getPublishedGenotype } from '@rnas/nas';
import { resolveKeypointConfig, resolveSegmentationConfig } from '@rnas/tasks';
import { readTrainingCheckpoint } from './checkpoint';
import { withoutTiming } from './epoch-report';
import { artifactFromTraining, train, type TrainOptions } from './trainer';

let dir: string;
let seg: SegmentationDataset;
let pose: KeypointDataset;

beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-train-dense-'));
  const data = path.join(dir, 'data');
  seg = await openSegmentationDataset(
    (await writeSegmentationShapes(path.join(data, 'seg'), { train: 8, test: 3, size: 64, seed: 2 })).uri,
    { dataRoots: [data] },
  );
  pose = await openKeypointDataset(
    (await writeKeypointFigures(path.join(data, 'pose'), { train: 6, test: 3, size: 96, seed: 2 })).uri,
    { dataRoots: [data] },
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BACKBONE = { variant: 'imagenet', channels: 4, layers: 3, inChannels: 3, auxiliary: false } as const;

function segmentation(overrides: Partial<TrainOptions> = {}): TrainOptions {
  return {
    spec: { ...BACKBONE, classes: seg.classNames.length },
    genotype: getPublishedGenotype('DARTS_V2'),
    task: 'segmentation',
    segmentation: resolveSegmentationConfig({ inputHeight: 64, inputWidth: 64, scales: [0.75, 1, 1.25] }),
    dataset: seg,
    recipe: { epochs: 2, batchSize: 4, learningRate: 0.01, seed: 9 },
    ...overrides,
  };
}

function keypoints(overrides: Partial<TrainOptions> = {}): TrainOptions {
  return {
    spec: { ...BACKBONE, classes: pose.keypointNames.length },
    genotype: getPublishedGenotype('DARTS_V2'),
    task: 'keypoints',
    keypoints: resolveKeypointConfig({ inputHeight: 64, inputWidth: 32 }),
    dataset: pose,
    recipe: { epochs: 2, batchSize: 4, learningRate: 0.01, seed: 9 },
    ...overrides,
  };
}

function weightsOf(w: Record<string, HostTensor>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(w).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
}

/** Trains uninterrupted, then interrupted after its first epoch's checkpoint and resumed: both equal. */
async function expectResumeExact(options: (o?: Partial<TrainOptions>) => TrainOptions, name: string) {
  const uninterrupted = await train(options());
  const checkpointDir = path.join(dir, `checkpoint-${name}`);
  const stop = new Error('interrupted after epoch 1');
  await expect(
    train(
      options({
        checkpointDir,
        onEpoch: () => {
          throw stop;
        },
      }),
    ),
  ).rejects.toBe(stop);
  expect((await readTrainingCheckpoint(checkpointDir))?.epochsDone).toBe(1);
  const resumed = await train(options({ checkpointDir }));
  expect(resumed.resumedFromEpoch).toBe(1);
  expect(weightsOf(resumed.weights)).toEqual(weightsOf(uninterrupted.weights));
  expect(resumed.history.map(withoutTiming)).toEqual(uninterrupted.history.map(withoutTiming));
  return uninterrupted;
}

describe('train (segmentation and keypoints)', () => {
  it("segmentation: BiSeNet's recipe, mIoU every epoch, no tensor left, exact resume, a segmenter artifact", async () => {
    const before = tf.memory().numTensors;
    const result = await expectResumeExact(segmentation, 'seg');
    expect(tf.memory().numTensors).toBe(before);
    expect(result.recipe).toMatchObject({
      learningRateSchedule: 'poly',
      weightDecay: 5e-4,
      dropPath: 0,
      cutout: 0,
    });
    expect(result.history.map((r) => r.learningRate)).toEqual([0.01, 0.01 * 0.5 ** 0.9]);
    for (const r of result.history) {
      expect(Object.keys(r.evalMetrics ?? {})).toEqual(
        expect.arrayContaining(['mIoU', 'pixel_accuracy', 'IoU/background']),
      );
      expect(r.evalImages).toBe(3);
    }
    const artifact = artifactFromTraining(result, seg);
    expect(artifact.task).toBe('segmentation');
    expect(artifact.segmentation).toMatchObject({ inputHeight: 64, inputWidth: 64, headLrScale: 10 });
    expect(artifact.labels).toEqual(['background', 'circle', 'square', 'triangle']);
    expect(artifact.preprocessing).toMatchObject({ inputHeight: 64, inputWidth: 64, channels: 3 });
    expect(artifact.metadata.eval_mIoU).toBeDefined();
  }, 300_000);

  it("keypoints: OKS AP and PCK every epoch, no tensor left, exact resume, the dataset's keypoints recorded", async () => {
    const before = tf.memory().numTensors;
    const result = await expectResumeExact(keypoints, 'pose');
    expect(tf.memory().numTensors).toBe(before);
    for (const r of result.history) {
      expect(Object.keys(r.evalMetrics ?? {})).toEqual(expect.arrayContaining(['AP', 'AP50', 'AP75', 'PCK']));
    }
    const artifact = artifactFromTraining(result, pose);
    expect(artifact.task).toBe('keypoints');
    expect(artifact.keypoints?.keypointNames).toEqual(pose.keypointNames);
    expect(artifact.keypoints?.skeleton).toEqual(pose.skeleton);
    expect(artifact.keypoints?.flipPairs).toEqual(pose.flipPairs);
    expect(artifact.keypoints?.oksSigmas).toEqual(pose.oksSigmas);
    expect(artifact.labels).toEqual(pose.keypointNames);
    expect(artifact.preprocessing).toMatchObject({ inputHeight: 64, inputWidth: 32 });
    // A checkpoint of one task's training refuses another's.
    await expect(train(segmentation({ checkpointDir: path.join(dir, 'checkpoint-pose') }))).rejects.toThrow(
      /written for another training/,
    );
  }, 300_000);
});
