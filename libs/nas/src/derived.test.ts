import { initBackend, tf, type Tensor, type Tensor4D } from '@rnas/engine';
import { derivedTensorCount, derivedTensors, sweepDerived } from './derived';
import { getPublishedGenotype } from './genotypes';
import { Network } from './network';
import { disposeParams, initParams } from './params';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('derivedTensors', () => {
  it('computes once per source version, recomputes when a source is replaced or reassigned, and frees stale values', () => {
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.tensor1d([4, 5, 6]);
    let calls = 0;
    const compute = (x: Tensor, y: Tensor) => () => {
      calls++;
      return [tf.add(x, y), tf.mul(x, y)];
    };
    const first = derivedTensors('sum and product', [a, b], compute(a, b));
    const again = derivedTensors('sum and product', [a, b], compute(a, b));
    expect(calls).toBe(1);
    expect(again[0]).toBe(first[0]);
    expect(Array.from(first[1].dataSync())).toEqual([4, 10, 18]);
    // Another key on the same sources is its own entry.
    derivedTensors('difference', [a, b], () => [tf.sub(a, b)]);
    expect(calls).toBe(1);
    expect(derivedTensorCount()).toBe(3);

    // A replaced second source (as an SGD step replaces parameters): recomputed, the old freed.
    const b2 = tf.tensor1d([1, 1, 1]);
    const replaced = derivedTensors('sum and product', [a, b2], compute(a, b2));
    expect(calls).toBe(2);
    expect(first[0].isDisposed && first[1].isDisposed).toBe(true);
    expect(Array.from(replaced[0].dataSync())).toEqual([2, 3, 4]);

    // A variable reassigned in place keeps its object but not its data.
    const v = tf.variable(tf.tensor1d([2, 2, 2]));
    const viaVariable = derivedTensors('scaled', [v], () => [tf.mul(v, 10)]);
    expect(Array.from(viaVariable[0].dataSync())).toEqual([20, 20, 20]);
    v.assign(tf.tensor1d([3, 3, 3]));
    expect(Array.from(derivedTensors('scaled', [v], () => [tf.mul(v, 10)])[0].dataSync())).toEqual([
      30, 30, 30,
    ]);
    expect(viaVariable[0].isDisposed).toBe(true);

    // Disposed sources: the next sweep frees what came from them.
    const held = derivedTensorCount();
    expect(held).toBe(4);
    tf.dispose([a, b, b2, v]);
    sweepDerived();
    expect(derivedTensorCount()).toBe(0);
    expect(() => derivedTensors('nothing', [], () => [])).toThrow(
      /derived tensors 'nothing': no source tensors/,
    );
  });

  it('leaves nothing behind in a tidy and survives the tidy it was made in', () => {
    const a = tf.tensor1d([1, 2]);
    const before = tf.memory().numTensors;
    const kept = tf.tidy(() => {
      const [d] = derivedTensors('twice', [a], () => [tf.mul(tf.add(a, 0), 2)]);
      return tf.add(d, 1);
    });
    // The result and the one derived tensor; the intermediate (a + 0) is gone.
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(Array.from(kept.dataSync())).toEqual([3, 5]);
    tf.dispose([a, kept]);
    sweepDerived();
    expect(tf.memory().numTensors).toBe(before - 1);
  });
});

describe('inference with derived parameters', () => {
  const spec = {
    variant: 'cifar' as const,
    genotype: getPublishedGenotype('DARTS_V2'),
    channels: 4,
    layers: 5,
    classes: 10,
    inChannels: 3,
    auxiliary: false,
  };

  it('gives the same logits as computing the folds afresh, follows replaced parameters, and does not grow', () => {
    const net = new Network(spec);
    const start = tf.memory().numTensors;
    const params = initParams(net.params, 3);
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 4) as Tensor4D;
    const logits = () => {
      const { logits: l } = net.forward(params, x);
      const values = Array.from(l.dataSync());
      l.dispose();
      return values;
    };
    const first = logits();
    const held = derivedTensorCount();
    expect(held).toBeGreaterThan(0);
    const afterFirst = tf.memory().numTensors;
    expect(logits()).toEqual(first);
    expect(tf.memory().numTensors).toBe(afterFirst);

    // Replace the running variance of a batch norm folded into a 1x1 convolution (a cell's
    // preprocessing: ReLU, conv, BN), as loading new weights would.
    const name = 'cells.0.preprocess1.op.2.running_var';
    expect(params.has(name)).toBe(true);
    const old = params.get(name) as Tensor;
    params.set(name, tf.mul(old, 4));
    old.dispose();
    const changed = logits();
    expect(changed).not.toEqual(first);
    // Afresh: a fresh copy of every parameter has no derived values yet.
    const fresh = new Map([...params].map(([k, t]) => [k, tf.clone(t)]));
    const { logits: reference } = net.forward(fresh, x);
    expect(changed).toEqual(Array.from(reference.dataSync()));
    reference.dispose();
    disposeParams(fresh);

    // Training passes derive nothing, and gradients flow to the parameters (no cached copy).
    const count = derivedTensorCount();
    const bnWeight = params.get(name.replace('running_var', 'weight')) as Tensor;
    const grad = tf.grad((g: Tensor) => {
      const swapped = new Map(params);
      swapped.set(name.replace('running_var', 'weight'), g);
      return tf.sum(net.forward(swapped, x).logits);
    })(bnWeight);
    expect(tf.tidy(() => tf.max(tf.abs(grad)).dataSync()[0])).toBeGreaterThan(0);
    grad.dispose();
    expect(derivedTensorCount()).toBe(count);

    x.dispose();
    disposeParams(params);
    expect(derivedTensorCount()).toBe(0);
    expect(tf.memory().numTensors).toBe(start);
  });
});
