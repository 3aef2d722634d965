// The trainer on the detection task: SSDLite on a tiny backbone, a synthetic VOC dataset on disk.
// What classification's trainer promises holds for it too: every epoch reports the task's metrics,
// no tensor is left behind, and an interrupted training resumes to exactly the uninterrupted result.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend, tf, type HostTensor } from '@rnas/engine';
import { openDetectionDataset, writeDetectionShapes, type DetectionDataset } from '@rnas/data';
import { getPublishedGenotype } from '@rnas/nas';
import { resolveDetectionConfig } from '@rnas/tasks';
import { readTrainingCheckpoint } from './checkpoint';
import { withoutTiming } from './epoch-report';
import { TrainingCancelledError } from './errors';
import { artifactFromTraining, train, type TrainOptions } from './trainer';

let dir: string;
let dataset: DetectionDataset;

beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-train-detection-'));
  const { uri } = await writeDetectionShapes(path.join(dir, 'data', 'voc'), {
    format: 'voc',
    train: 8,
    test: 4,
    size: 64,
    seed: 2,
  });
  dataset = await openDetectionDataset(uri, { dataRoots: [path.join(dir, 'data')] });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(overrides: Partial<TrainOptions> = {}): TrainOptions {
  return {
    spec: { variant: 'imagenet', channels: 4, layers: 3, classes: 3, inChannels: 3, auxiliary: false },
    genotype: getPublishedGenotype('DARTS_V2'),
    task: 'detection',
    detection: resolveDetectionConfig({ inputSize: 64 }),
    dataset,
    recipe: { epochs: 2, batchSize: 4, learningRate: 0.01, seed: 9 },
    ...overrides,
  };
}

function weightsOf(w: Record<string, HostTensor>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(w).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
}

describe('train (detection)', () => {
  it("reports the task's metrics, uses SSDLite's recipe, and publishes a detector artifact", async () => {
    const before = tf.memory().numTensors;
    const result = await train(options());
    expect(tf.memory().numTensors).toBe(before);
    expect(result.recipe).toMatchObject({ weightDecay: 5e-4, dropPath: 0, cutout: 0, gradClip: 0 });
    expect(result.history).toHaveLength(2);
    for (const r of result.history) {
      expect(r.trainImages).toBe(8);
      expect(r.evalImages).toBe(4);
      expect(r.evalAccuracy).toBeNull();
      expect(Object.keys(r.evalMetrics ?? {})).toEqual(
        expect.arrayContaining(['AP50', 'AP50_11pt', 'AP', 'AP75', 'AR100']),
      );
    }
    const artifact = artifactFromTraining(result, dataset);
    expect(artifact).toMatchObject({
      task: 'detection',
      labels: ['circle', 'square', 'triangle'],
      preprocessing: { inputHeight: 64, inputWidth: 64, channels: 3 },
    });
    expect(Object.keys(artifact.weights).some((k) => k.startsWith('base_net.cells.'))).toBe(true);
  });

  it('trains on the same shapes in COCO format', async () => {
    const { uri } = await writeDetectionShapes(path.join(dir, 'data', 'coco'), {
      format: 'coco',
      train: 8,
      test: 4,
      size: 64,
      seed: 2,
    });
    const coco = await openDetectionDataset(uri, { dataRoots: [path.join(dir, 'data')] });
    expect(coco.format).toBe('coco');
    const result = await train(options({ dataset: coco, recipe: { epochs: 1, batchSize: 4, seed: 9 } }));
    expect(result.history[0].evalImages).toBe(4);
    expect(result.labels).toEqual(['circle', 'square', 'triangle']);
  });

  it('resumes an interrupted training from its checkpoint to the uninterrupted result', async () => {
    const uninterrupted = await train(options());
    const checkpointDir = path.join(dir, 'checkpoint');
    let reads = 0;
    // Epoch 1 reads the signal twice for its batches and once for evaluation; epoch 2 stops at once.
    const signal = {
      get aborted() {
        return ++reads > 4;
      },
      reason: new Error('aborted'),
    } as unknown as AbortSignal;
    await expect(train(options({ checkpointDir, signal }))).rejects.toBeInstanceOf(TrainingCancelledError);
    expect((await readTrainingCheckpoint(checkpointDir))?.epochsDone).toBe(1);
    const resumed = await train(options({ checkpointDir }));
    expect(resumed.resumedFromEpoch).toBe(1);
    expect(weightsOf(resumed.weights)).toEqual(weightsOf(uninterrupted.weights));
    expect(resumed.history.map(withoutTiming)).toEqual(uninterrupted.history.map(withoutTiming));
    // The same checkpoint refuses another task's training.
    await expect(
      train(options({ checkpointDir, detection: resolveDetectionConfig({ inputSize: 96 }) })),
    ).rejects.toThrow(/written for another training/);
  });
});
