import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend, tf, type HostTensor } from '@rnas/engine';
import { Network } from '@rnas/nas';
import { checkpointPath, readTrainingCheckpoint } from './checkpoint';
import { withoutTiming, type EpochReport } from './epoch-report';
import { TrainError, TrainingCancelledError } from './errors';
import { resolveRecipe } from './recipe';
import { epochSchedule } from './schedule';
import { TINY_GENOTYPE, TINY_RECIPE, TINY_SPEC, tinyDataset } from './test-fixtures';
import { backendStep, train, type TrainOptions } from './trainer';

let dir: string;
beforeAll(async () => {
  await initBackend();
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-train-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tinyOptions(overrides: Partial<TrainOptions> = {}): Promise<TrainOptions> {
  return {
    spec: TINY_SPEC,
    genotype: TINY_GENOTYPE,
    dataset: await tinyDataset(),
    recipe: TINY_RECIPE,
    ...overrides,
  };
}

function expectSameWeights(a: Record<string, HostTensor>, b: Record<string, HostTensor>): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const [name, t] of Object.entries(a)) {
    expect({ name, shape: b[name].shape }).toEqual({ name, shape: t.shape });
    expect({ name, data: Array.from(b[name].data as Float32Array) }).toEqual({
      name,
      data: Array.from(t.data as Float32Array),
    });
  }
}

/** An AbortSignal that fires after `checks` reads of `aborted`: the trainer reads it once per batch. */
function abortAfterChecks(checks: number): AbortSignal {
  let reads = 0;
  return {
    get aborted() {
      reads++;
      return reads > checks;
    },
    reason: new Error('aborted'),
  } as unknown as AbortSignal;
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('train', () => {
  it('trains with the recipe schedule, reports every epoch and leaves no tensor behind', async () => {
    const options = await tinyOptions();
    const before = tf.memory().numTensors;
    const reports: EpochReport[] = [];
    const result = await train({ ...options, onEpoch: (r) => void reports.push(r) });
    expect(tf.memory().numTensors).toBe(before);
    expect(reports).toEqual(result.history);
    const recipe = resolveRecipe(TINY_RECIPE);
    reports.forEach((r, e) => {
      expect(r.epoch).toBe(e + 1);
      expect(r.epochs).toBe(3);
      expect(r.learningRate).toBe(epochSchedule(recipe, e).learningRate);
      expect(r.dropPath).toBe(epochSchedule(recipe, e).dropPath);
      expect(r.trainImages).toBe(24);
      expect(r.evalImages).toBe(8);
      expect(Number.isFinite(r.trainLoss) && r.trainLoss > 0).toBe(true);
      expect(r.evalAccuracy).toBeGreaterThanOrEqual(0);
      expect(r.imagesPerSecond).toBeGreaterThan(0);
      expect(r.durationMs).toBeGreaterThan(0);
    });
    expect(reports[2].etaMs).toBe(0);
    expect(reports[0].etaMs).toBeGreaterThan(0);
    expect(result.resumedFromEpoch).toBe(0);
    // The weights are those of the network of the spec, in the reference layout, and they moved.
    const network = new Network(result.spec);
    expect(Object.keys(result.weights).sort()).toEqual(network.params.map((p) => p.name).sort());
    for (const p of network.params) expect(result.weights[p.name].shape).toEqual(p.refShape);
    const gamma = result.weights['cells.0._ops.0.op.3.weight'].data as Float32Array;
    expect(Array.from(gamma).some((v) => v !== 1)).toBe(true);
  });

  it('learns: test accuracy well above chance on the synthetic shapes', async () => {
    const result = await train({
      ...(await tinyOptions({ dataset: await tinyDataset(96, 48) })),
      recipe: {
        ...TINY_RECIPE,
        epochs: 8,
        batchSize: 16,
        learningRate: 0.1,
        dropPath: 0,
        cutout: 0,
        cropPadding: 1,
      },
    });
    const last = result.history[result.history.length - 1];
    expect(last.trainLoss).toBeLessThan(result.history[0].trainLoss);
    expect(last.evalAccuracy).toBeGreaterThan(0.6);
  });

  it('is reproducible from the seed, and another seed gives another result', async () => {
    const options = await tinyOptions({ recipe: { ...TINY_RECIPE, epochs: 2 } });
    const a = await train(options);
    const b = await train(options);
    expectSameWeights(a.weights, b.weights);
    expect(a.history.map(withoutTiming)).toEqual(b.history.map(withoutTiming));
    const c = await train({ ...options, recipe: { ...TINY_RECIPE, epochs: 2, seed: 12 } });
    expect(c.history[0].trainLoss).not.toBe(a.history[0].trainLoss);
  });

  it('stops within one batch when aborted, and resumes from the checkpoint to the uninterrupted result', async () => {
    const options = await tinyOptions();
    const uninterrupted = await train(options);

    const before = tf.memory().numTensors;
    const seen: number[] = [];
    // 3 batches per epoch: epoch 1 reads the signal 3 times (+1 for evaluation), epoch 2 stops after one batch.
    const err = await caught(
      train({
        ...options,
        checkpointDir: dir,
        signal: abortAfterChecks(5),
        onEpoch: (r) => void seen.push(r.epoch),
      }),
    );
    expect(err).toBeInstanceOf(TrainingCancelledError);
    expect((err as TrainError).code).toBe('CANCELLED');
    expect(err.message).toBe('training cancelled during epoch 2');
    expect(seen).toEqual([1]);
    expect(tf.memory().numTensors).toBe(before);
    expect((await readTrainingCheckpoint(dir))?.epochsDone).toBe(1);

    const resumedEpochs: number[] = [];
    const resumed = await train({
      ...options,
      checkpointDir: dir,
      onEpoch: (r) => void resumedEpochs.push(r.epoch),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(resumed.resumedFromEpoch).toBe(1);
    expect(resumedEpochs).toEqual([2, 3]);
    expectSameWeights(resumed.weights, uninterrupted.weights);
    expect(resumed.history.map(withoutTiming)).toEqual(uninterrupted.history.map(withoutTiming));

    // A finished checkpoint gives the result without training again.
    const again = await train({ ...options, checkpointDir: dir, onEpoch: () => fail('no epoch expected') });
    expect(again.resumedFromEpoch).toBe(3);
    expectSameWeights(again.weights, uninterrupted.weights);
  });

  it('yields between batches, so an abort fired by a timer stops a long training promptly', async () => {
    const controller = new AbortController();
    const before = tf.memory().numTensors;
    let abortedAt = 0;
    setTimeout(() => {
      abortedAt = performance.now();
      controller.abort();
    }, 300);
    const err = await caught(
      train({
        ...(await tinyOptions()),
        recipe: { ...TINY_RECIPE, epochs: 10000 },
        signal: controller.signal,
      }),
    );
    expect(err).toBeInstanceOf(TrainingCancelledError);
    expect(abortedAt).toBeGreaterThan(0);
    // One tiny batch takes a few milliseconds; a generous bound keeps a loaded CI machine green.
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('cancels before the first batch when the signal has already fired, writing no checkpoint', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await caught(
      train({ ...(await tinyOptions()), signal: controller.signal, checkpointDir: dir }),
    );
    expect(err.message).toBe('training cancelled during epoch 1');
    expect(await readTrainingCheckpoint(dir)).toBeNull();
  });

  it('refuses to resume a checkpoint of another training or a damaged one', async () => {
    const options = await tinyOptions({ recipe: { ...TINY_RECIPE, epochs: 1 } });
    await train({ ...options, checkpointDir: dir });
    const other = await caught(
      train({ ...options, recipe: { ...TINY_RECIPE, epochs: 2 }, checkpointDir: dir }),
    );
    expect((other as TrainError).code).toBe('FAILED_PRECONDITION');
    expect(other.message).toContain('recipe.epochs differs');
    const otherData = await caught(train({ ...options, dataset: await tinyDataset(32), checkpointDir: dir }));
    expect(otherData.message).toMatch(/dataset\.(uri|trainImages) differs/);

    const before = tf.memory().numTensors;
    await writeFile(checkpointPath(dir), 'not a checkpoint at all');
    const damaged = await caught(train({ ...options, checkpointDir: dir }));
    expect((damaged as TrainError).code).toBe('FAILED_PRECONDITION');
    expect(damaged.message).toContain(checkpointPath(dir));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('draws trainImages per epoch, evaluates evalImages, and drops a last batch of one image', async () => {
    const result = await train({
      ...(await tinyOptions()),
      recipe: { ...TINY_RECIPE, epochs: 1, trainImages: 17, evalImages: 5 },
    });
    expect(result.history[0].trainImages).toBe(16);
    expect(result.history[0].evalImages).toBe(5);
  });

  it('trains the auxiliary head when the spec has one', async () => {
    const dataset = await tinyDataset(8, 2, 32);
    const before = tf.memory().numTensors;
    const result = await train({
      spec: { ...TINY_SPEC, channels: 2, auxiliary: true },
      genotype: TINY_GENOTYPE,
      dataset,
      recipe: { ...TINY_RECIPE, epochs: 1, cutout: 16, auxiliaryWeight: 0.4 },
    });
    expect(tf.memory().numTensors).toBe(before);
    const auxGamma = result.weights['auxiliary_head.features.3.weight'].data as Float32Array;
    expect(Array.from(auxGamma).some((v) => v !== 1)).toBe(true);
  });

  it.each([
    [{ spec: { ...TINY_SPEC, classes: 4 } }, "spec.classes: expected the dataset's 3 classes, got 4"],
    [
      { spec: { ...TINY_SPEC, inChannels: 3 } },
      "spec.inChannels: expected the dataset's 1 image channels, got 3",
    ],
    [{ spec: { ...TINY_SPEC, channels: 0 } }, 'channels must be'],
    [{ spec: { ...TINY_SPEC, auxiliary: true } }, "cannot take the dataset's 8x8 images"],
    [{ genotype: undefined }, 'genotype: missing'],
    [
      { genotype: { ...TINY_GENOTYPE, normal: [...TINY_GENOTYPE.normal.slice(0, 3), ['conv_9x9', 0]] } },
      'conv_9x9',
    ],
    [
      { spec: { ...TINY_SPEC, genotype: { ...TINY_GENOTYPE, normalConcat: [3] } } },
      'spec.genotype: differs from genotype',
    ],
    [{ recipe: { epochs: 0 } }, 'recipe.epochs: expected an integer in [1, 100000], got 0'],
  ] as [Partial<TrainOptions>, string][])('rejects bad input %#', async (overrides, message) => {
    const err = await caught(train(await tinyOptions(overrides)));
    expect((err as TrainError).code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(message);
  });
});

describe('backendStep', () => {
  it.each(['Aborted(). Build with -sASSERTIONS for more info.', 'memory access out of bounds'])(
    'turns the WebAssembly runtime error "%s" into RESOURCE_EXHAUSTED with advice',
    (message) => {
      const recipe = resolveRecipe({ batchSize: 96 });
      let err: unknown;
      try {
        backendStep(recipe, 0, 4, () => {
          throw Object.assign(new Error(message), { name: 'RuntimeError' });
        });
      } catch (e) {
        err = e;
      }
      expect((err as TrainError).code).toBe('RESOURCE_EXHAUSTED');
      expect((err as TrainError).message).toContain(
        `failed at epoch 1, batch 5 with "${message}", most likely out of memory at batchSize 96`,
      );
    },
  );

  it('passes other errors and results on', () => {
    const recipe = resolveRecipe({});
    const other = new Error('shape mismatch');
    expect(() =>
      backendStep(recipe, 0, 0, () => {
        throw other;
      }),
    ).toThrow(other);
    expect(backendStep(recipe, 0, 0, () => 7)).toBe(7);
  });
});
