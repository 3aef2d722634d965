// channelDot and channelAffine against a direct double-precision computation, on cpu (tfjs ops)
// and wasm (the SIMD kernels for channels in fours, tfjs ops otherwise).
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { randomArray, relativeError, rng } from '../kernels/test-util';
import { tf } from '../tf';
import { channelAffine, channelDot } from './channel-ops';

const SEED = Date.now() >>> 0;
const next = rng(SEED);

/** Shapes: channels in fours (SIMD on wasm) and not, pixel counts across the 1024-pixel chunks. */
const SHAPES: [number, number, number, number][] = [
  [2, 3, 5, 4],
  [3, 7, 9, 16],
  [1, 40, 30, 8],
  [2, 4, 4, 6],
  [1, 1, 3, 12],
];

function host(t: Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

describe.each(['cpu', 'wasm'])('channel ops on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend as 'cpu' | 'wasm');
  });

  it.each(SHAPES)('channelDot on [%i, %i, %i, %i], centred or not, with and without y', (...shape) => {
    const c = shape[3];
    const before = tf.memory().numTensors;
    const xa = randomArray(next, shape);
    const ya = randomArray(next, shape);
    const [x, y] = [tf.tensor(xa.data, shape) as Tensor4D, tf.tensor(ya.data, shape) as Tensor4D];
    const mx = tf.tensor1d(Array.from({ length: c }, () => next() - 0.5)) as Tensor1D;
    const my = tf.tensor1d(Array.from({ length: c }, () => next() - 0.5)) as Tensor1D;
    const [mxa, mya] = [host(mx), host(my)];
    for (const [withY, centred] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ]) {
      const expected = new Float64Array(c);
      for (let i = 0; i < xa.data.length; i++) {
        const j = i % c;
        const dx = xa.data[i] - (centred ? mxa[j] : 0);
        expected[j] += withY ? dx * (ya.data[i] - (centred ? mya[j] : 0)) : dx;
      }
      const got = channelDot(x, withY ? y : null, centred ? mx : null, centred && withY ? my : null);
      expect(got.shape).toEqual([c]);
      expect({ withY, centred, below: relativeError(host(got), expected) < 1e-5 }).toEqual({
        withY,
        centred,
        below: true,
      });
      got.dispose();
    }
    tf.dispose([x, y, mx, my]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(SHAPES)('channelAffine on [%i, %i, %i, %i], with and without a second term', (...shape) => {
    const c = shape[3];
    const before = tf.memory().numTensors;
    const xa = randomArray(next, shape);
    const ya = randomArray(next, shape);
    const vector = () => Float32Array.from({ length: c }, () => 2 * next() - 1);
    const [scale, center, shift, extraScale] = [vector(), vector(), vector(), vector()];
    const [x, y] = [tf.tensor(xa.data, shape) as Tensor4D, tf.tensor(ya.data, shape) as Tensor4D];
    const t = (v: Float32Array) => tf.tensor1d(v) as Tensor1D;
    for (const withExtra of [false, true]) {
      const expected = new Float32Array(xa.data.length);
      for (let i = 0; i < expected.length; i++) {
        const j = i % c;
        expected[i] =
          (xa.data[i] - center[j]) * scale[j] + shift[j] + (withExtra ? ya.data[i] * extraScale[j] : 0);
      }
      const out = tf.tidy(() =>
        channelAffine(
          { x, scale: t(scale), center: t(center) },
          t(shift),
          withExtra ? { x: y, scale: t(extraScale) } : null,
        ),
      );
      expect(out.shape).toEqual(shape);
      expect(relativeError(host(out), expected)).toBeLessThan(1e-6);
      out.dispose();
    }
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses per-channel vectors of the wrong length and mismatched tensors', () => {
    const x = tf.zeros([1, 2, 2, 4]) as Tensor4D;
    const wrong = tf.zeros([3]) as Tensor1D;
    const right = tf.zeros([4]) as Tensor1D;
    expect(() => channelDot(x, null, wrong)).toThrow(
      /channelDot: per-channel vectors must have shape \[4\], got \[3\]/,
    );
    expect(() => channelDot(x, tf.zeros([1, 2, 3, 4]) as Tensor4D)).toThrow(
      /channelDot: x \[1, 2, 2, 4\] and y \[1, 2, 3, 4\] differ/,
    );
    expect(() => channelAffine({ x, scale: right }, wrong)).toThrow(
      /channelAffine: per-channel vectors must have shape \[4\]/,
    );
    tf.dispose([x, wrong, right]);
  });
});
