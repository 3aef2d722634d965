import { initBackend, tf, type Tensor2D } from '@rnas/engine';
import { labelsTensor, softmaxCrossEntropy } from './loss';

describe('softmaxCrossEntropy', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  const rows = [
    [2, -1, 0.5],
    [0, 0, 0],
  ];
  const labels = [0, 2];
  const logSoftmax = (r: number[]) => {
    const m = Math.max(...r);
    const lse = m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0));
    return r.map((v) => v - lse);
  };

  it('is the mean negative log-likelihood, with optional label smoothing', () => {
    const before = tf.memory().numTensors;
    const logits = tf.tensor2d(rows) as Tensor2D;
    const y = labelsTensor(labels, 3);
    const plain = -(logSoftmax(rows[0])[0] + logSoftmax(rows[1])[2]) / 2;
    const eps = 0.1;
    const smooth =
      rows
        .map((r, i) =>
          logSoftmax(r).reduce((a, lp, k) => a - ((k === labels[i] ? 1 - eps : 0) + eps / 3) * lp, 0),
        )
        .reduce((a, v) => a + v, 0) / 2;
    const l0 = softmaxCrossEntropy(logits, y);
    const l1 = softmaxCrossEntropy(logits, y, eps);
    expect(l0.dataSync()[0]).toBeCloseTo(plain, 5);
    expect(l1.dataSync()[0]).toBeCloseTo(smooth, 5);
    tf.dispose([logits, y, l0, l1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses labels of the wrong length and a smoothing outside [0, 1)', () => {
    const logits = tf.tensor2d(rows) as Tensor2D;
    const y = labelsTensor([1], 3);
    expect(() => softmaxCrossEntropy(logits, y)).toThrow(/labels have shape \[1\], expected \[2\]/);
    const y2 = labelsTensor(labels, 3);
    expect(() => softmaxCrossEntropy(logits, y2, 1)).toThrow(/label smoothing must be in \[0, 1\), got 1/);
    tf.dispose([logits, y, y2]);
  });

  it.each([
    [[0, 1.5], /labels\[1\] is 1.5, expected a class index in \[0, 9\]/],
    [[10], /labels\[0\] is 10/],
    [[-1], /labels\[0\] is -1/],
    [[Number.NaN], /labels\[0\] is NaN/],
  ])('labelsTensor refuses %j', (values, message) => {
    const before = tf.memory().numTensors;
    expect(() => labelsTensor(values, 10)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });
});
