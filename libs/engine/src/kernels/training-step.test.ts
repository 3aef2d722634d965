// One SGD step of a small network that uses every kernel a DARTS network needs (3x3 convolutions
// at strides 1 and 2, depthwise 3x3 and 5x5 at strides 1 and 2, dilated depthwise at strides 1
// and 2, 1x1 convolution, max and average pooling, batch normalisation, a dense layer, softmax
// cross-entropy) on wasm: it must run, give the cpu backend's gradients, and leak nothing.
import type { Tensor, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import { dilatedDepthwiseConv2d } from '../ops/dilated-depthwise-conv2d';
import { tf } from '../tf';
import { registerWasmTrainingKernels } from './index';
import { type HostArray, randomArray, relativeError, rng } from './test-util';

const SEED = Date.now() >>> 0;
const TOLERANCE = 1e-4;

const PARAM_SHAPES: Record<string, number[]> = {
  conv1: [3, 3, 3, 8],
  conv2: [3, 3, 8, 16],
  dw3: [3, 3, 16, 1],
  dw3s2: [3, 3, 16, 1],
  dw5: [5, 5, 16, 1],
  dw5s2: [5, 5, 16, 1],
  dil3: [3, 3, 16, 1],
  dil5s2: [5, 5, 16, 1],
  pointwise: [1, 1, 16, 16],
  gamma1: [8],
  beta1: [8],
  gamma2: [16],
  beta2: [16],
  dense: [16, 10],
  bias: [10],
};

function batchNorm(x: Tensor4D, gamma: Tensor, beta: Tensor): Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta) as Tensor4D;
}

function loss(p: Record<string, Variable>, x: Tensor4D, labels: Tensor2D): tf.Scalar {
  const c1 = tf.relu(batchNorm(tf.conv2d(x, p.conv1 as Tensor4D, 1, 1), p.gamma1, p.beta1)); // 15x15x8
  const c2 = tf.conv2d(c1, p.conv2 as Tensor4D, 2, 1); // 8x8x16
  // No ReLU right after the pools: it would hide how max pooling routes all-negative windows.
  const pooled = tf.add(tf.maxPool(c2, 3, 1, 'same'), tf.avgPool(c2, 3, 1, 'same')) as Tensor4D;
  const dw = (t: Tensor4D, name: string, stride: 1 | 2, pad: number) =>
    tf.depthwiseConv2d(t, p[name] as Tensor4D, stride, pad);
  const plain = dw(dw(dw(dw(pooled, 'dw3', 1, 1), 'dw5', 1, 2), 'dw5s2', 2, 2), 'dw3s2', 1, 1); // 4x4
  const dilated = dilatedDepthwiseConv2d(
    dilatedDepthwiseConv2d(pooled, p.dil3 as Tensor4D, 1, 2, 2),
    p.dil5s2 as Tensor4D,
    2,
    2,
    4,
  ); // 4x4
  const mixed = tf.conv2d(tf.add(plain, dilated) as Tensor4D, p.pointwise as Tensor4D, 1, 0);
  const features = tf.maxPool(tf.relu(batchNorm(mixed, p.gamma2, p.beta2)), 2, 2, 'valid'); // 2x2
  const logits = tf.add(tf.matMul(tf.mean(features, [1, 2]) as Tensor2D, p.dense as Tensor2D), p.bias);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

interface StepResult {
  loss: number;
  grads: Record<string, Float32Array>;
  kernels: string[];
  tensorsBefore: number;
  tensorsAfter: number;
}

async function trainStep(
  backend: string,
  init: Record<string, HostArray>,
  input: HostArray,
): Promise<StepResult> {
  expect(await tf.setBackend(backend)).toBe(true);
  const params: Record<string, Variable> = {};
  for (const [name, a] of Object.entries(init))
    params[name] = tf.variable(tf.tensor(a.data, a.shape), true, name);
  const x = tf.tensor4d(input.data, input.shape as [number, number, number, number]);
  const labels = tf.oneHot(tf.tensor1d([3, 1, 4, 1], 'int32'), 10) as Tensor2D;
  const tensorsBefore = tf.memory().numTensors;
  let value = NaN;
  const grads: Record<string, Float32Array> = {};
  const profile = await tf.profile(() => {
    const step = tf.variableGrads(() => loss(params, x, labels), Object.values(params));
    value = step.value.dataSync()[0];
    tf.tidy(() => {
      for (const [name, g] of Object.entries(step.grads)) {
        grads[name] = g.dataSync() as Float32Array;
        params[name].assign(tf.sub(params[name], tf.mul(g, 0.1)));
      }
    });
    tf.dispose([step.value, ...Object.values(step.grads)]);
  });
  const tensorsAfter = tf.memory().numTensors;
  tf.dispose([x, labels, ...Object.values(params)]);
  return { loss: value, grads, kernels: profile.kernelNames, tensorsBefore, tensorsAfter };
}

describe('a training step on wasm', () => {
  it('runs every training kernel, matches cpu within 1e-4 and leaks no tensor', async () => {
    registerWasmTrainingKernels();
    const next = rng(SEED);
    const init: Record<string, HostArray> = {};
    for (const [name, shape] of Object.entries(PARAM_SHAPES)) {
      init[name] = randomArray(next, shape);
      if (name.startsWith('gamma')) init[name].data.fill(1);
    }
    const input = randomArray(next, [4, 15, 15, 3]);
    const wasm = await trainStep('wasm', init, input);
    const cpu = await trainStep('cpu', init, input);

    expect(Number.isFinite(wasm.loss)).toBe(true);
    expect(Math.abs(wasm.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(TOLERANCE);
    expect(Object.keys(wasm.grads).sort()).toEqual(Object.keys(PARAM_SHAPES).sort());
    const errors = Object.fromEntries(
      Object.keys(PARAM_SHAPES).map((name) => [name, relativeError(wasm.grads[name], cpu.grads[name])]),
    );
    const failures = Object.entries(errors).filter(([, e]) => !(e < TOLERANCE));
    expect({ seed: SEED, failures }).toEqual({ seed: SEED, failures: [] });
    for (const kernel of [
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'DepthwiseConv2dNativeBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter',
      'MaxPoolGrad',
      'AvgPoolGrad',
      'BatchMatMul',
    ]) {
      expect(wasm.kernels).toContain(kernel);
    }
    expect(wasm.tensorsAfter).toBe(wasm.tensorsBefore);
    expect(cpu.tensorsAfter).toBe(cpu.tensorsBefore);
  });
});
