// dilatedDepthwiseConv2d and its gradients against a direct nested-loop computation of the
// PyTorch definition, on the cpu and wasm backends.
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from '../kernels';
import { type HostArray, randomArray, relativeError, rng } from '../kernels/test-util';
import { tf } from '../tf';
import { dilatedDepthwiseConv2d } from './dilated-depthwise-conv2d';

const TOLERANCE = 1e-4;
const SEED = Date.now() >>> 0;
const next = rng(SEED);

interface Case {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  mult: number;
  stride: 1 | 2;
  dilation: number;
  pad: number;
}

interface Reference {
  out: HostArray;
  dx: Float32Array;
  dFilter: Float32Array;
}

/**
 * out[n, i, j, c*m + q] = sum over (ky, kx) of x[n, i*s + d*ky - pad, j*s + d*kx - pad, c] * f[ky, kx, c, q],
 * reading zero outside x; and the gradients of sum(out * g).
 */
function reference(k: Case, x: HostArray, f: HostArray, g: (shape: number[]) => HostArray): Reference {
  const { n, h, w, c, kh, kw, mult, stride: s, dilation: d, pad } = k;
  const oh = Math.floor((h + 2 * pad - d * (kh - 1) - 1) / s) + 1;
  const ow = Math.floor((w + 2 * pad - d * (kw - 1) - 1) / s) + 1;
  const co = c * mult;
  const out = new Float32Array(n * oh * ow * co);
  const gy = g([n, oh, ow, co]).data;
  const dx = new Float32Array(x.data.length);
  const dFilter = new Float32Array(f.data.length);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          for (let q = 0; q < mult; q++) {
            const o = ((b * oh + i) * ow + j) * co + ch * mult + q;
            let sum = 0;
            for (let ky = 0; ky < kh; ky++) {
              const r = i * s + d * ky - pad;
              if (r < 0 || r >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const col = j * s + d * kx - pad;
                if (col < 0 || col >= w) continue;
                const xi = ((b * h + r) * w + col) * c + ch;
                const fi = ((ky * kw + kx) * c + ch) * mult + q;
                sum += x.data[xi] * f.data[fi];
                dx[xi] += gy[o] * f.data[fi];
                dFilter[fi] += gy[o] * x.data[xi];
              }
            }
            out[o] = sum;
          }
        }
      }
    }
  }
  return { out: { shape: [n, oh, ow, co], data: out }, dx, dFilter };
}

function label(k: Case): string {
  return (
    `n${k.n} ${k.h}x${k.w}x${k.c} k${k.kh}x${k.kw} mult ${k.mult} stride ${k.stride} ` +
    `dilation ${k.dilation} pad ${k.pad}`
  );
}

function cases(): Case[] {
  const out: Case[] = [];
  // The DARTS dil_conv ops: K 3 and 5, dilation 2, pad 2 and 4, strides 1 and 2, odd and even sizes.
  for (const k of [3, 5]) {
    for (const stride of [1, 2] as const) {
      for (const [h, w] of [
        [8, 8],
        [7, 9],
        [11, 6],
      ]) {
        out.push({ n: 2, h, w, c: 3, kh: k, kw: k, mult: 1, stride, dilation: 2, pad: k - 1 });
      }
    }
  }
  // Other paddings, dilations and shapes the general paths handle.
  for (const stride of [1, 2] as const) {
    out.push({ n: 1, h: 9, w: 8, c: 2, kh: 3, kw: 3, mult: 1, stride, dilation: 2, pad: 0 });
    out.push({ n: 2, h: 6, w: 7, c: 2, kh: 3, kw: 3, mult: 1, stride, dilation: 2, pad: 1 });
    out.push({ n: 2, h: 7, w: 7, c: 2, kh: 3, kw: 3, mult: 1, stride, dilation: 1, pad: 1 });
    out.push({ n: 2, h: 10, w: 9, c: 2, kh: 3, kw: 3, mult: 1, stride, dilation: 3, pad: 3 });
    out.push({ n: 1, h: 13, w: 12, c: 2, kh: 3, kw: 3, mult: 1, stride, dilation: 4, pad: 4 });
    out.push({ n: 2, h: 8, w: 9, c: 2, kh: 2, kw: 3, mult: 2, stride, dilation: 2, pad: 2 });
    out.push({ n: 1, h: 5, w: 5, c: 1, kh: 3, kw: 3, mult: 1, stride, dilation: 2, pad: 2 });
  }
  return out;
}

async function check(backend: string): Promise<string[]> {
  expect(await tf.setBackend(backend)).toBe(true);
  const failures: string[] = [];
  for (const k of cases()) {
    const xHost = randomArray(next, [k.n, k.h, k.w, k.c]);
    const fHost = randomArray(next, [k.kh, k.kw, k.c, k.mult]);
    let gHost: HostArray | undefined;
    const ref = reference(k, xHost, fHost, (shape) => (gHost = randomArray(next, shape)));
    const before = tf.memory().numTensors;
    const x = tf.tensor(xHost.data, xHost.shape) as unknown as Tensor4D;
    const f = tf.tensor(fHost.data, fHost.shape) as unknown as Tensor4D;
    const g = tf.tensor(gHost!.data, gHost!.shape);
    const out = dilatedDepthwiseConv2d(x, f, k.stride, k.dilation, k.pad);
    const [dx, dFilter] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(dilatedDepthwiseConv2d(a as Tensor4D, b as Tensor4D, k.stride, k.dilation, k.pad), g)),
    )([x, f]);
    const errors = {
      out: out.shape.join() === ref.out.shape.join() ? relativeError(out.dataSync(), ref.out.data) : Infinity,
      dx: relativeError(dx.dataSync(), ref.dx),
      dFilter: relativeError(dFilter.dataSync(), ref.dFilter),
    };
    tf.dispose([x, f, g, out, dx, dFilter]);
    if (Object.values(errors).some((e) => !(e < TOLERANCE))) {
      failures.push(
        `${label(k)}: out [${out.shape}] vs [${ref.out.shape}], errors ${JSON.stringify(errors)}`,
      );
    }
    if (tf.memory().numTensors !== before)
      failures.push(`${label(k)}: leaked ${tf.memory().numTensors - before} tensors`);
  }
  return failures;
}

describe('dilatedDepthwiseConv2d', () => {
  beforeAll(() => registerWasmTrainingKernels());

  it.each(['cpu', 'wasm'])(
    'matches the direct computation, forward and gradients, on %s',
    async (backend) => {
      expect({ seed: SEED, failures: await check(backend) }).toEqual({ seed: SEED, failures: [] });
    },
  );

  describe('rejects bad input with an error naming the field and value', () => {
    const x = () => tf.zeros([1, 8, 8, 3]) as Tensor4D;
    const f = () => tf.zeros([3, 3, 3, 1]) as Tensor4D;
    it.each([
      [
        'a rank-3 x',
        () => [tf.zeros([8, 8, 3]), f(), 1, 2, 2],
        /x must be a rank-4 NHWC tensor, got shape \[8, 8, 3\]/,
      ],
      [
        'a missing filter',
        () => [x(), null, 1, 2, 2],
        /filter must be a rank-4 \[kh, kw, C, multiplier\] tensor, got null/,
      ],
      [
        'mismatched channels',
        () => [x(), tf.zeros([3, 3, 4, 1]), 1, 2, 2],
        /filter has 4 input channels \(shape \[3, 3, 4, 1\]\) but x has 3 \(shape \[1, 8, 8, 3\]\)/,
      ],
      ['stride 3', () => [x(), f(), 3, 2, 2], /stride must be 1 or 2, got 3/],
      ['dilation 0', () => [x(), f(), 1, 0, 2], /dilation must be an integer >= 1, got 0/],
      ['a fractional dilation', () => [x(), f(), 1, 1.5, 2], /dilation must be an integer >= 1, got 1.5/],
      ['a negative pad', () => [x(), f(), 1, 2, -1], /pad must be an integer >= 0, got -1/],
      ['a NaN pad', () => [x(), f(), 1, 2, NaN], /pad must be an integer >= 0, got NaN/],
      ['an int32 x', () => [tf.zeros([1, 8, 8, 3], 'int32'), f(), 1, 2, 2], /x must be float32, got int32/],
      [
        'a filter larger than the padded input',
        () => [tf.zeros([1, 3, 3, 3]), tf.zeros([5, 5, 3, 1]), 1, 2, 0],
        /a 5x5 filter with dilation 2 does not fit a 3x3 input padded by 0/,
      ],
      ['an empty batch', () => [tf.zeros([0, 8, 8, 3]), f(), 1, 2, 2], /x is empty \(shape \[0, 8, 8, 3\]\)/],
      ['a huge dilation', () => [x(), f(), 1, 1e9, 2], /a 3x3 filter with dilation 1000000000 does not fit/],
    ])('%s', async (_what, args, message) => {
      await tf.setBackend('cpu');
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const [a, b, s, d, p] = args() as [Tensor4D, Tensor4D, 1 | 2, number, number];
        expect(() => dilatedDepthwiseConv2d(a, b, s, d, p)).toThrow(message);
      });
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
