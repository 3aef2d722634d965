import { initBackend, tf, type Tensor4D } from '@rnas/engine';
import { disposeParams, getPublishedGenotype, initParams, Network, type NetworkSpec } from '@rnas/nas';
import type { TaskModelSpec } from '../task';
import { ClassificationNetwork, classificationRecord } from './network';

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
    const before = tf.memory().numTensors;
    const records = cls.infer(params, x);
    expect(tf.memory().numTensors).toBe(before);
    expect(records.length).toBe(20);
    const { logits } = cls.forward(params, x);
    const expectedLogits = logits.dataSync();
    const expected = tf.tidy(() => tf.softmax(logits).dataSync());
    for (const i of [0, 1]) {
      const record = classificationRecord(records, i, 5);
      expect(Array.from(record.logits)).toEqual(Array.from(expectedLogits.subarray(5 * i, 5 * i + 5)));
      expect(Array.from(record.probabilities)).toEqual(Array.from(expected.subarray(5 * i, 5 * i + 5)));
      expect(record.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    tf.dispose([x, logits]);
    disposeParams(params);
    expect(() => cls.checkInput(9, 9)).toThrow(/FactorizedReduce needs an even input size, got 9x9/);
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
