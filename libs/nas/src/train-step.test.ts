import {
  initBackend,
  readSafetensors,
  tf,
  type BackendName,
  type Tensor,
  type Tensor1D,
  type Tensor4D,
} from '@rnas/engine';
import type { Genotype } from './genotype';
import { getPublishedGenotype } from './genotypes';
import { labelsTensor, softmaxCrossEntropy } from './loss';
import { Network, type NetworkSpec } from './network';
import { readSpecFile } from './network-spec';
import { disposeParams, exportParams, importParams, initParams, type ParamMap } from './params';
import { Sgd } from './sgd';
import { defaultRecompute, RECOMPUTE_ABOVE_BYTES, trainStep } from './train-step';
import { parityFixture } from '@rnas/fixtures';
import { nhwc, relError } from './test-util';

const NAME = 'trainstep_darts_v2_cifar_c8_l5';

const CASES: [BackendName, boolean][] = [
  ['cpu', true],
  ['wasm', true],
  ['wasm', false],
];

describe(`${NAME} parity`, () => {
  it.each(CASES)(
    'reproduces one reference training step on %s (recompute %s)',
    async (backend, recompute) => {
      await initBackend(backend);
      const spec = await readSpecFile(parityFixture(`${NAME}.spec.json`));
      const weights = await readSafetensors(parityFixture(`${NAME}.weights.safetensors`));
      const batch = await readSafetensors(parityFixture(`${NAME}.batch.safetensors`));
      const ref = (await readSafetensors(parityFixture(`${NAME}.after.safetensors`))).tensors;
      const before = tf.memory().numTensors;
      const net = new Network(spec.network);
      const params = importParams(net.params, weights.tensors);
      const x = nhwc(batch.tensors.input);
      const labels = labelsTensor(batch.tensors.labels.data as Float32Array, spec.network.classes);
      const sgd = new Sgd({
        lr: spec.lr,
        momentum: spec.momentum,
        weightDecay: spec.weightDecay,
        gradClip: spec.gradClip,
      });
      const result = trainStep(net, params, x, labels, sgd, {
        bnEps: spec.bnEps,
        bnMomentum: spec.bnMomentum,
        recompute,
      });
      const refLoss = ref.loss.data[0] as number;
      const refNorm = ref.grad_norm.data[0] as number;
      const lossErr = Math.abs(result.loss - refLoss) / Math.abs(refLoss);
      const normErr = Math.abs(result.gradNorm - refNorm) / Math.abs(refNorm);
      const logitsErr = relError(result.logits.dataSync(), ref.logits.data as Float32Array);
      const exported = exportParams(net.params, params);
      let worst = 0;
      let worstName = '';
      for (const p of net.params) {
        const e = relError(exported[p.name].data as Float32Array, ref[p.name].data as Float32Array);
        if (e > worst) [worst, worstName] = [e, p.name];
      }
      console.log(
        `train-step parity on ${backend} (recompute ${recompute}): loss ${lossErr.toExponential(2)}, ` +
          `grad_norm ${normErr.toExponential(2)}, logits ${logitsErr.toExponential(2)}, ` +
          `worst tensor ${worst.toExponential(2)} (${worstName})`,
      );
      expect(lossErr).toBeLessThan(1e-4);
      expect(normErr).toBeLessThan(1e-4);
      expect(logitsErr).toBeLessThan(1e-4);
      expect(worst).toBeLessThan(1e-3);
      tf.dispose([result.logits, x, labels]);
      sgd.dispose();
      disposeParams(params);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});

describe('trainStep', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  /** The reduction cell never reads state 0, so its preprocess0 gets no gradient (RelativeNAS does this). */
  const genotype: Genotype = {
    normal: [
      ['sep_conv_3x3', 0],
      ['skip_connect', 1],
    ],
    normalConcat: [2],
    reduce: [
      ['max_pool_3x3', 1],
      ['dil_conv_3x3', 1],
    ],
    reduceConcat: [2],
  };
  const spec: NetworkSpec = {
    variant: 'cifar',
    genotype,
    channels: 4,
    layers: 3,
    classes: 5,
    inChannels: 3,
    auxiliary: true,
  };

  function setup(seed: number): { net: Network; params: ParamMap; x: Tensor4D; y: Tensor1D } {
    const net = new Network(spec);
    const params = initParams(net.params, seed);
    params.set('cells.1.preprocess0.op.2.num_batches_tracked', tf.scalar(3, 'int32'));
    return {
      net,
      params,
      x: tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', seed) as Tensor4D,
      y: labelsTensor([0, 1, 4, 2], 5),
    };
  }

  it('updates only what the loss reaches, keeps running statistics and counters going, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const { net, params, x, y } = setup(1);
    const snapshot = new Map([...params].map(([k, v]) => [k, Array.from(v.dataSync())]));
    const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 3e-4, gradClip: 5 });
    const random = (() => {
      let s = 5;
      return () => (s = (s * 16807) % 2147483647) / 2147483647;
    })();
    const result = trainStep(net, params, x, y, sgd, {
      dropPath: { prob: 0.2, random },
      labelSmoothing: 0.1,
    });
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(result.gradNorm).toBeGreaterThan(0);
    expect(result.logits.shape).toEqual([4, 5]);
    const changed = (name: string) =>
      relError(Array.from((params.get(name) as Tensor).dataSync()), snapshot.get(name) as number[]) > 0;
    expect(changed('cells.1.preprocess0.op.1.weight')).toBe(false);
    expect(changed('cells.1.preprocess0.op.2.running_mean')).toBe(true);
    expect(changed('cells.1.preprocess1.op.1.weight')).toBe(true);
    expect(changed('auxiliary_head.classifier.weight')).toBe(true);
    expect((params.get('cells.1.preprocess0.op.2.num_batches_tracked') as Tensor).dataSync()[0]).toBe(4);
    tf.dispose([result.logits, x, y]);
    sgd.dispose();
    disposeParams(params);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('adds the auxiliary loss with its weight', () => {
    const losses = [0, 0.4].map((auxiliaryWeight) => {
      const { net, params, x, y } = setup(2);
      const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0, gradClip: null });
      const r = trainStep(net, params, x, y, sgd, { auxiliaryWeight });
      const plain = tf.tidy(() => softmaxCrossEntropy(r.logits, y as tf.Tensor1D).dataSync()[0]);
      tf.dispose([r.logits, x, y]);
      sgd.dispose();
      disposeParams(params);
      return { loss: r.loss, plain };
    });
    expect(losses[0].loss).toBeCloseTo(losses[0].plain, 5);
    expect(losses[1].loss).toBeGreaterThan(losses[1].plain);
  });

  it('fails cleanly on a missing parameter or a bad momentum', () => {
    const { net, params, x, y } = setup(3);
    const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0, gradClip: 5 });
    expect(() => trainStep(net, params, x, y, sgd, { bnMomentum: 2 })).toThrow(
      /batch-norm momentum must be in \[0, 1\], got 2/,
    );
    (params.get('classifier.weight') as Tensor).dispose();
    params.delete('classifier.weight');
    const before = tf.memory().numTensors;
    expect(() => trainStep(net, params, x, y, sgd)).toThrow(/missing tensor 'classifier.weight'/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    sgd.dispose();
    disposeParams(params);
  });
});

describe('defaultRecompute', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('recomputes only when the batch activations pass RECOMPUTE_ABOVE_BYTES', () => {
    const net = new Network({
      variant: 'cifar',
      genotype: getPublishedGenotype('DARTS_V2'),
      channels: 16,
      layers: 8,
      classes: 10,
      inChannels: 3,
      auxiliary: false,
    });
    const perImage = net.trace(32, 32).activations * 4;
    // The search network at batch 64 keeps about 1.1 GiB of activations: no recomputation.
    expect(perImage * 64).toBeGreaterThan(2 ** 29);
    expect(perImage * 64).toBeLessThan(RECOMPUTE_ABOVE_BYTES);
    const images = (n: number) => tf.zeros([n, 32, 32, 3]) as Tensor4D;
    const fits = Math.floor(RECOMPUTE_ABOVE_BYTES / perImage);
    for (const [n, expected] of [
      [64, false],
      [fits, false],
      [fits + 1, true],
    ] as const) {
      const x = images(n);
      expect(defaultRecompute(net, x)).toBe(expected);
      x.dispose();
    }
  });
});
