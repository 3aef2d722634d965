// `gradients` against tfjs's own engine.gradients: the same values on the same tape, less memory
// held during the backward pass, nothing leaked, and the outer tape left alone when nested.
import type { Tensor } from '@tensorflow/tfjs-core';
import { initBackend } from './backend';
import { gradients } from './gradients';
import { tf } from './tf';

/** A small graph with shared subexpressions, a custom gradient, a broadcast and an unused input. */
function model(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const h = tf.relu(tf.add(tf.matMul(x, w), b));
  const twice = tf.customGrad((...args) => {
    const [t, save] = args as [Tensor, (saved: Tensor[]) => void];
    save([t]);
    return { value: tf.mul(t, 2), gradFunc: (dy: Tensor) => tf.mul(dy, 2) };
  });
  return tf.sum(tf.mul(twice(h) as Tensor, tf.sigmoid(h)));
}

describe.each(['cpu', 'wasm'])('gradients on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend as 'cpu' | 'wasm');
  });

  it('matches engine.gradients, value and gradients, and leaks nothing', () => {
    const x = tf.randomNormal([6, 5], 0, 1, 'float32', 1);
    const w = tf.randomNormal([5, 4], 0, 1, 'float32', 2);
    const b = tf.randomNormal([4], 0, 1, 'float32', 3);
    const unused = tf.randomNormal([3], 0, 1, 'float32', 4);
    const before = tf.memory().numTensors;
    const ours = gradients(() => model(x, w, b), [x, w, b, unused]);
    const theirs = tf.engine().gradients(() => model(x, w, b), [x, w, b, unused], undefined, true);
    expect(ours.value.dataSync()[0]).toBeCloseTo(theirs.value.dataSync()[0], 5);
    expect(ours.grads[3]).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      expect(Array.from(ours.grads[i]?.dataSync() ?? [])).toEqual(Array.from(theirs.grads[i].dataSync()));
    }
    tf.dispose([ours.value, theirs.value, ...ours.grads.filter((g) => g !== undefined), ...theirs.grads]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, b, unused]);
  });

  it('weights the gradients by dy and leaves the caller its dy', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const dy = tf.tensor1d([1, 0, -2]);
    const { value, grads } = gradients(() => tf.square(x), [x], dy);
    expect(Array.from(grads[0]?.dataSync() ?? [])).toEqual([2, 0, -12]);
    expect(dy.isDisposed).toBe(false);
    tf.dispose([x, dy, value, grads[0] as Tensor]);
  });

  it('puts back the tape of an outer pass it runs inside', () => {
    const x = tf.tensor1d([0.5, -1]);
    const before = tf.memory().numTensors;
    // A custom gradient that recomputes its forward pass with `gradients`, as checkpointing does.
    const recomputed = tf.customGrad((...args) => {
      const [t, save] = args as [Tensor, (saved: Tensor[]) => void];
      save([t]);
      return {
        value: tf.exp(t),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const { value, grads } = gradients(() => tf.exp(saved[0]), [saved[0]], dy);
          value.dispose();
          return grads[0] as Tensor;
        },
      };
    });
    const { value, grads } = gradients(() => tf.sum(tf.mul(recomputed(x) as Tensor, 3)), [x]);
    const expected = Array.from(x.dataSync(), (v) => 3 * Math.exp(v));
    Array.from(grads[0]?.dataSync() ?? []).forEach((g, i) => expect(g).toBeCloseTo(expected[i], 5));
    tf.dispose([value, grads[0] as Tensor]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('holds less memory than engine.gradients through a long chain', () => {
    const x = tf.randomNormal([64, 64], 0, 1, 'float32', 5);
    // Twenty layers: tfjs keeps every saved input and every gradient until the end.
    const chain = () => {
      let h = x;
      for (let i = 0; i < 20; i++) h = tf.tanh(tf.mul(h, 1.01));
      return tf.sum(h);
    };
    const peak = (run: () => { value: Tensor; grads: (Tensor | undefined)[] }) => {
      // The peak is reached inside the backward pass: sample it from the gradient of tanh.
      let most = 0;
      const tanhGrad = tf.getGradient('Tanh');
      const original = tanhGrad?.gradFunc;
      if (tanhGrad === undefined || original === undefined) throw new Error('no Tanh gradient');
      tanhGrad.gradFunc = (dy, saved, attrs) => {
        most = Math.max(most, tf.memory().numBytes);
        return original(dy, saved, attrs);
      };
      try {
        const { value, grads } = run();
        tf.dispose([value, ...grads.filter((g) => g !== undefined)]);
      } finally {
        tanhGrad.gradFunc = original;
      }
      return most;
    };
    const ours = peak(() => gradients(chain, [x]));
    const theirs = peak(() => tf.engine().gradients(chain, [x], undefined, true));
    expect(ours).toBeLessThan(0.75 * theirs);
    x.dispose();
  });

  it('frees the tape and the value when a gradient function throws', () => {
    const x = tf.tensor1d([1, 2]);
    const before = tf.memory().numTensors;
    const failing = tf.customGrad((...args) => {
      const [t, save] = args as [Tensor, (saved: Tensor[]) => void];
      save([t]);
      return {
        value: tf.square(t),
        gradFunc: () => {
          throw new Error('broken gradient');
        },
      };
    });
    expect(() => gradients(() => tf.sum(failing(tf.exp(x)) as Tensor), [x])).toThrow(/broken gradient/);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('refuses an empty xs and a non-float dy', () => {
    const x = tf.tensor1d([1]);
    const dy = tf.tensor1d([1], 'int32');
    expect(() => gradients(() => tf.square(x), [])).toThrow(/gradients: xs is empty/);
    expect(() => gradients(() => tf.square(x), [x], dy)).toThrow(/dy must be float32, got int32/);
    tf.dispose([x, dy]);
  });
});
