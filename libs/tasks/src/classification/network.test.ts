import { initBackend, tf, type Tensor4D } from '@rnas/engine';
import {
  disposeParams,
  getPublishedGenotype,
  initParams,
  Network,
  type NetworkSpec,
  tensorsBesidesDerived,
} from '@rnas/nas';
import type { TaskModelSpec } from '../task';
import { ClassificationNetwork, classificationRecord, stableSoftmax } from './network';

const NETWORK: NetworkSpec = {
  variant: 'cifar',
  genotype: getPublishedGenotype('DARTS_V2'),
  channels: 4,
  layers: 3,
  classes: 5,
  inChannels: 3,
  auxiliary: true,
};

describe('ClassificationNetwork', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('wraps the network: its parameters, its inference count, logits and softmax probabilities per image', () => {
    const spec: TaskModelSpec = { task: 'classification', network: NETWORK };
    const cls = new ClassificationNetwork(spec);
    const plain = new Network(NETWORK);
    expect(cls.params).toEqual(plain.params);
    expect(cls.countParams()).toBe(plain.countParams());
    expect(cls.outputSize).toBe(10);
    const params = initParams(cls.params, 1);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1) as Tensor4D;
    const before = tensorsBesidesDerived();
    const records = cls.infer(params, x);
    expect(tensorsBesidesDerived()).toBe(before);
    expect(records.length).toBe(20);
    const { logits } = cls.forward(params, x);
    const expectedLogits = logits.dataSync();
    const expected = tf.tidy(() => tf.softmax(logits).dataSync());
    for (const i of [0, 1]) {
      const record = classificationRecord(records, i, 5);
      expect(Array.from(record.logits)).toEqual(Array.from(expectedLogits.subarray(5 * i, 5 * i + 5)));
      // The same softmax to float32 rounding (this one is computed in float64 on the host).
      record.probabilities.forEach((p, c) => expect(p).toBeCloseTo(expected[5 * i + c], 6));
      expect(record.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    tf.dispose([x, logits]);
    disposeParams(params);
    expect(() => cls.checkInput(9, 9)).toThrow(/FactorizedReduce needs an even input size, got 9x9/);
  });

  it('gives finite probabilities in [0, 1] for an input of extreme finite values, or NaN ones when the logits overflowed', () => {
    const cls = new ClassificationNetwork({ task: 'classification', network: NETWORK });
    const params = initParams(cls.params, 1);
    for (const value of [3e38, -3e38]) {
      const x = tf.fill([1, 32, 32, 3], value) as Tensor4D;
      const { logits, probabilities } = classificationRecord(cls.infer(params, x), 0, 5);
      x.dispose();
      if (logits.every(Number.isFinite)) {
        probabilities.forEach((p) => expect(p >= 0 && p <= 1).toBe(true));
        expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      } else {
        // The network overflowed: the record says so, for the service to refuse it.
        expect(Array.from(probabilities).every(Number.isNaN)).toBe(true);
      }
    }
    disposeParams(params);
  });

  it('refuses a spec of another task or with a detection config', () => {
    expect(() => new ClassificationNetwork({ task: 'detection', network: NETWORK })).toThrow(
      /task is 'detection', expected 'classification'/,
    );
    expect(
      () => new ClassificationNetwork({ task: 'classification', network: NETWORK, detection: {} as never }),
    ).toThrow(/has a detection config, which only detection takes/);
  });
});

describe('stableSoftmax', () => {
  it('subtracts the largest logit: extreme finite logits give finite probabilities summing to 1', () => {
    expect(Array.from(stableSoftmax([3e38, -3e38, 0]))).toEqual([1, 0, 0]);
    expect(Array.from(stableSoftmax([3e38, 3e38]))).toEqual([0.5, 0.5]);
    expect(Array.from(stableSoftmax([-3e38, -3e38, -3e38, -3e38]))).toEqual([0.25, 0.25, 0.25, 0.25]);
    const p = stableSoftmax([1000, 999, -1000]);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    expect(p[1]).toBeCloseTo(Math.exp(-1) / (1 + Math.exp(-1)), 6);
    expect(p[2]).toBe(0);
  });

  it('matches the plain softmax on ordinary logits', () => {
    const logits = [0.5, -1.25, 2, 0];
    const exps = logits.map(Math.exp);
    const sum = exps.reduce((a, b) => a + b, 0);
    stableSoftmax(logits).forEach((p, i) => expect(p).toBeCloseTo(exps[i] / sum, 7));
  });

  it.each([NaN, Infinity, -Infinity])('makes every probability NaN when a logit is %p', (bad) => {
    expect(Array.from(stableSoftmax([0, bad, 1])).every(Number.isNaN)).toBe(true);
  });
});
