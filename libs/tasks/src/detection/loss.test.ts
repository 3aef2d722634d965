import { gradients, initBackend, tf, type Tensor3D } from '@rnas/engine';
import { mineNegatives, multiboxLoss } from './loss';
import type { PriorTargets } from './matching';

/** −log softmax(row)[c]. */
function nll(row: number[], c: number): number {
  const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
  return lse - row[c];
}

// One image, five priors, background and two classes. Prior 1 is the one positive (class 0 → 1).
// Background losses: prior 0 ln 3, prior 2 small, prior 3 large, prior 4 medium: with 3 negatives per
// positive, priors 3, 0 and 4 are kept and prior 2 is not.
const LOGITS = [
  [0, 0, 0],
  [0, 1, -1],
  [2, 0, 0],
  [0, 3, 0],
  [0, 0, 1],
];
const LOCS = [
  [9, 9, 9, 9],
  [0.5, 2, 0, -3],
  [9, 9, 9, 9],
  [9, 9, 9, 9],
  [9, 9, 9, 9],
];
const TARGET: PriorTargets = { labels: Int32Array.from([0, 1, 0, 0, 0]), locations: new Float32Array(20) };

describe('multiboxLoss', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('sums smooth L1 over positives and CE over positives and mined negatives, per positive', () => {
    const before = tf.memory().numTensors;
    const conf = tf.tensor3d([LOGITS]);
    const locs = tf.tensor3d([LOCS]);
    const out = multiboxLoss(locs, conf, [TARGET]);
    // 0.5·0.5² + (2 − 0.5) + 0 + (3 − 0.5)
    expect(out.location.dataSync()[0]).toBeCloseTo(4.125, 5);
    const ce = nll(LOGITS[1], 1) + nll(LOGITS[0], 0) + nll(LOGITS[3], 0) + nll(LOGITS[4], 0);
    expect(out.confidence.dataSync()[0]).toBeCloseTo(ce, 5);
    expect(out.loss.dataSync()[0]).toBeCloseTo(4.125 + ce, 5);
    expect(out.positives).toBe(1);
    tf.dispose([conf, locs, out.loss, out.location, out.confidence]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is differentiable: dropped negatives and non-positive boxes get no gradient', () => {
    const conf = tf.tensor3d([LOGITS]);
    const locs = tf.tensor3d([LOCS]);
    const before = tf.memory().numTensors;
    const { value, grads } = gradients(() => {
      const out = multiboxLoss(locs as Tensor3D, conf as Tensor3D, [TARGET]);
      return out.loss;
    }, [locs, conf]);
    const [gLocs, gConf] = grads.map((g) => Array.from((g as tf.Tensor).dataSync()));
    // d smoothL1 / d x = clip(x − target, −1, 1), divided by 1 positive.
    expect(gLocs.slice(4, 8).map((v) => v + 0)).toEqual([0.5, 1, 0, -1]);
    expect(gLocs.filter((_, i) => i < 4 || i >= 8).every((v) => v === 0)).toBe(true);
    expect(gConf.slice(6, 9).map((v) => v + 0)).toEqual([0, 0, 0]);
    // A kept negative: softmax − onehot(background).
    const e = LOGITS[3].map(Math.exp);
    const z = e.reduce((a, b) => a + b, 0);
    gConf.slice(9, 12).forEach((v, i) => expect(v).toBeCloseTo(e[i] / z - (i === 0 ? 1 : 0), 5));
    tf.dispose([value, ...(grads as tf.Tensor[])]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([conf, locs]);
  });

  it('mines per image and divides by the batch’s positives; no positives gives 0', () => {
    const conf = tf.tensor3d([LOGITS, LOGITS]);
    const locs = tf.tensor3d([LOCS, LOCS]);
    const firstLocs = tf.slice(locs, 0, 1);
    const firstConf = tf.slice(conf, 0, 1);
    const before = tf.memory().numTensors;
    const none: PriorTargets = { labels: new Int32Array(5), locations: new Float32Array(20) };
    const out = multiboxLoss(locs, conf, [TARGET, none]);
    // The second image has no positive, so no negative either: the first image's sums over 1.
    expect(out.positives).toBe(1);
    const single = multiboxLoss(firstLocs, firstConf, [TARGET]);
    expect(out.loss.dataSync()[0]).toBeCloseTo(single.loss.dataSync()[0], 5);
    const empty = multiboxLoss(locs, conf, [none, none]);
    expect(empty.positives).toBe(0);
    expect(empty.loss.dataSync()[0]).toBe(0);
    const twice = multiboxLoss(locs, conf, [TARGET, TARGET]);
    expect(twice.positives).toBe(2);
    expect(twice.loss.dataSync()[0]).toBeCloseTo(single.loss.dataSync()[0], 5);
    tf.dispose([out, single, empty, twice].flatMap((o) => [o.loss, o.location, o.confidence]));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([conf, locs, firstLocs, firstConf]);
  });

  it('ranks negatives by background loss, ties by prior index, positives never among them', () => {
    const labels = Int32Array.from([0, 2, 0, 0, 0, 0, 0, 0]);
    const loss = Float32Array.from([1, 100, 3, 3, Number.NaN, 2, 3, 0]);
    const { kept, positive, positives } = mineNegatives(loss, labels, 1, 8);
    expect(positives).toBe(1);
    expect(Array.from(positive)).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(kept)).toEqual([0, 1, 1, 1, 0, 0, 1, 0]);
    // More negatives wanted than there are: all of them.
    expect(Array.from(mineNegatives(loss, labels, 1, 8, 100).kept)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('refuses targets that do not fit the outputs', () => {
    const conf = tf.zeros([1, 5, 3]) as Tensor3D;
    const locs = tf.zeros([1, 5, 4]) as Tensor3D;
    const fewer = tf.zeros([1, 4, 4]) as Tensor3D;
    const before = tf.memory().numTensors;
    expect(() => multiboxLoss(locs, conf, [])).toThrow(/0 targets for a batch of 1 images/);
    expect(() => multiboxLoss(fewer, conf, [TARGET])).toThrow(
      /locations have shape \[1, 4, 4\], expected \[1, 5, 4\]/,
    );
    const short = { labels: new Int32Array(4), locations: new Float32Array(16) };
    expect(() => multiboxLoss(locs, conf, [short])).toThrow(
      /image 0 cover 4 priors \(16 box values\), expected 5 \(20\)/,
    );
    const bad = { labels: Int32Array.from([0, 3, 0, 0, 0]), locations: new Float32Array(20) };
    expect(() => multiboxLoss(locs, conf, [bad])).toThrow(/image 0, prior 1 has label 3, expected \[0, 2\]/);
    expect(() => multiboxLoss(locs, conf, [TARGET], -1)).toThrow(
      /negatives per positive must be a number >= 0, got -1/,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([conf, locs, fewer]);
  });
});
