import { ClassificationNetwork } from '@rnas/tasks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend, readSafetensors, tf, type Tensor4D } from '@rnas/engine';
import { subset, type Dataset } from '@rnas/data';
import { readSpecFile, tensorsBesidesDerived } from '@rnas/nas';
import {
  loadModel,
  loadPublishedModel,
  normalizePixels,
  publishModel,
  WEIGHTS_FILE,
  type ModelArtifact,
} from '@rnas/model';
import { TrainError } from './errors';
import { evaluate, predict, topK } from './evaluate';
import { tinyArtifact, tinyDataset } from './test-fixtures';
import type { TrainResult } from './trainer';
import { parityFixture } from '@rnas/fixtures';

let artifact: ModelArtifact;
let dataset: Dataset;
let result: TrainResult;

beforeAll(async () => {
  await initBackend();
  ({ artifact, dataset, result } = await tinyArtifact());
});

describe('topK', () => {
  it('gives the most probable classes first with softmax scores', () => {
    const before = tensorsBesidesDerived();
    const logits = tf.tensor2d([
      [0, 2, 1],
      [5, 5, -10],
    ]);
    const top = topK(logits, ['cat', 'dog', 'eel'], 2);
    logits.dispose();
    expect(top[0].map((p) => p.label)).toEqual(['dog', 'eel']);
    expect(top[0].map((p) => p.index)).toEqual([1, 2]);
    const z = Math.exp(0) + Math.exp(2) + Math.exp(1);
    expect(top[0][0].score).toBeCloseTo(Math.exp(2) / z, 6);
    expect(top[0][1].score).toBeCloseTo(Math.exp(1) / z, 6);
    expect(top[1][0].score).toBeCloseTo(0.5, 6);
    expect(top[1][1].score).toBeCloseTo(0.5, 6);
    expect(tensorsBesidesDerived()).toBe(before);
  });

  it('gives every class when k exceeds them, and refuses a bad k or labels', () => {
    const logits = tf.tensor2d([[1, 2, 3]]);
    try {
      const all = topK(logits, ['a', 'b', 'c'], 10);
      expect(all[0].map((p) => p.label)).toEqual(['c', 'b', 'a']);
      expect(all[0].reduce((s, p) => s + p.score, 0)).toBeCloseTo(1, 6);
      expect(() => topK(logits, ['a', 'b', 'c'], 0)).toThrow('k: expected a positive integer, got 0');
      expect(() => topK(logits, ['a', 'b', 'c'], 1.5)).toThrow('k: expected a positive integer, got 1.5');
      expect(() => topK(logits, ['a', 'b'], 1)).toThrow(
        'labels.length: expected one label per logit (3), got 2',
      );
    } finally {
      logits.dispose();
    }
  });
});

describe('a loaded model', () => {
  it("evaluates to the training's own last test evaluation", async () => {
    const before = tensorsBesidesDerived();
    const model = loadModel(artifact);
    try {
      const evaluation = await evaluate(model, dataset.test);
      const last = result.history[result.history.length - 1];
      expect(evaluation.images).toBe(dataset.test.size);
      expect(evaluation.accuracy).toBe(last.evalAccuracy);
      expect(evaluation.loss).toBeCloseTo(last.evalLoss as number, 5);
      const empty = await evaluate(model, subset(dataset.test, { count: 0 }));
      expect(empty).toEqual({ loss: null, accuracy: null, images: 0 });
    } finally {
      model.dispose();
    }
    expect(tensorsBesidesDerived()).toBe(before);
  });

  it('predicts from raw pixels the classes its logits rank first', async () => {
    const model = loadModel(artifact);
    const before = tensorsBesidesDerived();
    try {
      const n = 4;
      const pixels = dataset.test.images.subarray(0, n * 64);
      const images = tf.tensor4d(normalizePixels(model.preprocessing, pixels, n), [n, 8, 8, 1]);
      const predictions = predict(model, images, 2);
      const { logits } = (model.network as ClassificationNetwork).network.forward(model.params, images);
      const argmax = tf.tidy(() => Array.from(tf.argMax(logits, 1).dataSync()));
      logits.dispose();
      images.dispose();
      expect(predictions).toHaveLength(n);
      predictions.forEach((p, i) => {
        expect(p).toHaveLength(2);
        expect(p[0].index).toBe(argmax[i]);
        expect(p[0].label).toBe(artifact.labels[argmax[i]]);
        expect(p[0].score).toBeGreaterThanOrEqual(p[1].score);
      });
      const wrong = tf.zeros([1, 8, 8, 3]) as Tensor4D;
      expect(() => predict(model, wrong)).toThrow(
        'images.shape: expected [N, 8, 8, 1] (NHWC), got "[1, 8, 8, 3]"',
      );
      wrong.dispose();
    } finally {
      expect(tensorsBesidesDerived()).toBe(before);
      model.dispose();
    }
  });

  it('refuses to evaluate images or classes that are not its own', async () => {
    const model = loadModel(artifact);
    try {
      const big = await tinyDataset(4, 4, 16);
      await expect(evaluate(model, big.test)).rejects.toThrow(
        'split: images are 16x16x1, the model takes 8x8x1',
      );
      await expect(evaluate(model, { ...dataset.test, numClasses: 5 })).rejects.toThrow(TrainError);
    } finally {
      model.dispose();
    }
  });
});

const NAME = 'darts_v2_cifar_c8_l5';

describe('reference layout', () => {
  it('publishes reference weights unchanged and reproduces the reference logits from the published model', async () => {
    const spec = await readSpecFile(parityFixture(`${NAME}.spec.json`));
    const weights = await readSafetensors(parityFixture(`${NAME}.weights.safetensors`));
    const io = await readSafetensors(parityFixture(`${NAME}.io.safetensors`));
    const reference: ModelArtifact = {
      spec: spec.network,
      preprocessing: { inputHeight: 32, inputWidth: 32, channels: 3, mean: [0, 0, 0], std: [1, 1, 1] },
      labels: Array.from({ length: 10 }, (_, i) => `class-${i}`),
      weights: weights.tensors,
      metadata: {},
    };
    const repo = await mkdtemp(path.join(tmpdir(), 'rnas-ref-'));
    try {
      const published = await publishModel(repo, 'darts-v2', reference);
      const file = await readSafetensors(path.join(published.path, WEIGHTS_FILE));
      for (const [name, t] of Object.entries(weights.tensors)) {
        expect({ name, shape: file.tensors[name].shape }).toEqual({ name, shape: t.shape });
        expect(
          Buffer.from((file.tensors[name].data as Float32Array).buffer).equals(
            Buffer.from((t.data as Float32Array).buffer),
          ),
        ).toBe(true);
      }
      const before = tensorsBesidesDerived();
      const model = loadModel(await loadPublishedModel(repo, 'darts-v2'));
      const input = io.tensors.input;
      const x = tf.tidy(() =>
        tf.transpose(
          tf.tensor4d(input.data as Float32Array, input.shape as [number, number, number, number]),
          [0, 2, 3, 1],
        ),
      ) as Tensor4D;
      const { logits } = (model.network as ClassificationNetwork).network.forward(model.params, x);
      const out = logits.dataSync();
      const ref = io.tensors.logits.data as Float32Array;
      let num = 0;
      let den = 0;
      ref.forEach((r, i) => {
        num += (out[i] - r) ** 2;
        den += r ** 2;
      });
      logits.dispose();
      x.dispose();
      model.dispose();
      expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
      expect(tensorsBesidesDerived()).toBe(before);
    } finally {
      await rm(repo, { recursive: true, force: true });
    }
  });
});
