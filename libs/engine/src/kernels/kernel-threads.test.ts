// The kernel threads (kernel-threads.ts) of a threaded wasm engine: a matrix product split among
// the threads equals the same product on one thread bit for bit, and the cpu backend's to float
// precision, for every shape the splits and blocks can cut awkwardly. An engine keeps the threads
// it started with, so the threaded engine runs in a process of its own (compiled code).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chunkBounds, claimChunk, NEXT } from './kernel-threads';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

const SCRIPT = `
const { initBackend, tf } = require('@rnas/engine');
require('@tensorflow/tfjs-backend-cpu');
const { DRIVERS, NN, NN_FUSED, TN, productArgs } = require('@rnas/engine/dist/kernels/gemm');
const { kernelThreads } = require('@rnas/engine/dist/kernels/kernel-threads');
const { simdKernels } = require('@rnas/engine/dist/kernels/simd');
(async () => {
  const info = await initBackend('wasm', { wasmThreads: 2 });
  const backend = tf.backend();
  const threads = kernelThreads(backend);
  const kernels = simdKernels(backend);
  const heap = (t) => backend.typedArrayFromHeap({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
  // [m, k, n]: rows not in fours, 4-column tails, long and short inner axes; all large enough to
  // split (over 4M multiply-adds).
  const shapes = [[16387, 33, 12], [2051, 130, 20], [65536, 16, 16], [1201, 1000, 4], [17001, 7, 36]];
  const results = [];
  let seed = 1;
  const same = (x, y) => { const p = x.dataSync(), q = y.dataSync(); if (p.length !== q.length) return false; for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return false; return true; };
  for (const [m, k, n] of shapes) {
    const a = tf.randomNormal([m, k], 0, 1, 'float32', seed++);
    const b = tf.randomNormal([k, n], 0, 1, 'float32', seed++);
    const aT = tf.transpose(a);
    const bT = tf.transpose(b);
    const dy = tf.randomNormal([m, n], 0, 1, 'float32', seed++);
    const splitBefore = threads.splitCalls;
    const nn = tf.matMul(a, b);
    const nt = tf.matMul(a, bT, false, true);
    const tn = tf.matMul(a, dy, true, false);
    const bias = tf.randomNormal([n], 0, 1, 'float32', seed++);
    const fused = tf.fused.matMul({ a, b, bias, activation: 'relu' });
    // The same products by the drivers on this thread alone.
    const one = tf.zeros([m, n]);
    DRIVERS[NN](kernels, productArgs({ a: heap(a).byteOffset, b: heap(b).byteOffset, out: heap(one).byteOffset, m, k, n }), 0, m);
    const oneFused = tf.zeros([m, n]);
    DRIVERS[NN_FUSED](kernels, [...productArgs({ a: heap(a).byteOffset, b: heap(b).byteOffset, out: heap(oneFused).byteOffset, m, k, n }), heap(bias).byteOffset, 1], 0, m);
    const oneTn = tf.zeros([k, n]);
    // tnRows needs the output's rows in fours (the kernel the wasm BatchMatMul picks then).
    if (k % 4 === 0) DRIVERS[TN](kernels, productArgs({ a: heap(a).byteOffset, b: heap(dy).byteOffset, out: heap(oneTn).byteOffset, m: k, k: m, n }), 0, k);
    const host = { nn: nn.arraySync(), tn: tn.arraySync(), fused: fused.arraySync(), bias: Array.from(bias.dataSync()), a: a.arraySync(), b: b.arraySync(), dy: dy.arraySync() };
    results.push({
      shape: [m, k, n],
      nnSplitEqualsOne: same(nn, one),
      ntEqualsNn: same(nt, nn),
      tnSplitEqualsOne: k % 4 === 0 ? same(tn, oneTn) : null,
      fusedSplitEqualsOne: same(fused, oneFused),
      // a b, a b^T, a^T b and the fused product (plus the transposes' own split copies, if any).
      splits: threads.splitCalls - splitBefore,
      host,
    });
    tf.dispose([a, b, aT, bT, dy, nn, nt, tn, one, oneTn, bias, fused, oneFused]);
  }
  // Batch norm's per-channel passes (ops/channel-ops.ts), split by chunks of pixels, against the
  // same kernels called chunk after chunk on this thread into one accumulator.
  const { channelDot, channelAffine } = require('@rnas/engine');
  const { CHANNEL_CHUNK } = require('@rnas/engine/dist/kernels/gemm');
  const channels = [];
  for (const shape of [[64, 32, 32, 16], [17, 33, 29, 36], [3, 5, 5, 8]]) {
    const c = shape[3];
    const pixels = shape[0] * shape[1] * shape[2];
    const x = tf.randomNormal(shape, 0, 1, 'float32', seed++);
    const y = tf.randomNormal(shape, 0, 1, 'float32', seed++);
    const [mx, my, scale, shift, scale2] = [0, 1, 2, 3, 4].map(() => tf.randomNormal([c], 0, 1, 'float32', seed++));
    const splitBefore = threads.splitCalls;
    const dot = channelDot(x);
    const cdot = channelDot(x, y, mx, my);
    const affine = channelAffine({ x, scale, center: mx }, shift);
    const affine2 = channelAffine({ x, scale, center: mx }, shift, { x: y, scale: scale2 });
    const splits = threads.splitCalls - splitBefore;
    const ones = tf.ones([c]);
    const zeros = tf.zeros([c]);
    const sumsOne = (yT, yStride, cx, cy) => {
      const acc = tf.zeros([c]);
      for (let p = 0; p < pixels; p += CHANNEL_CHUNK)
        kernels.cmac(heap(x).byteOffset + 4 * c * p, heap(yT).byteOffset + yStride * p, heap(acc).byteOffset, Math.min(CHANNEL_CHUNK, pixels - p), c, yStride, heap(cx).byteOffset, heap(cy).byteOffset);
      return acc;
    };
    const affineOne = (second, a) => {
      const out = tf.zeros(shape);
      for (let p = 0; p < pixels; p += CHANNEL_CHUNK)
        kernels.affine2(heap(second).byteOffset + 4 * c * p, heap(x).byteOffset + 4 * c * p, heap(out).byteOffset + 4 * c * p, Math.min(CHANNEL_CHUNK, pixels - p), c, heap(a).byteOffset, heap(scale).byteOffset, heap(mx).byteOffset, heap(shift).byteOffset);
      return out;
    };
    const refs = [sumsOne(ones, 0, zeros, zeros), sumsOne(y, 4 * c, mx, my), affineOne(x, zeros), affineOne(y, scale2)];
    // In double precision, the sums of the centred products (what the passes compute).
    const xs = x.dataSync(), ys = y.dataSync(), mxs = mx.dataSync(), mys = my.dataSync();
    const exact = new Float64Array(c);
    const magnitude = new Float64Array(c);
    for (let i = 0; i < xs.length; i++) {
      const term = (xs[i] - mxs[i % c]) * (ys[i] - mys[i % c]);
      exact[i % c] += term;
      magnitude[i % c] += Math.abs(term);
    }
    const got = cdot.dataSync();
    let err = 0;
    for (let j = 0; j < c; j++) err = Math.max(err, Math.abs(got[j] - exact[j]) / magnitude[j]);
    channels.push({ shape, splits, equal: [dot, cdot, affine, affine2].map((t, i) => same(t, refs[i])), err });
    tf.dispose([x, y, mx, my, scale, shift, scale2, dot, cdot, affine, affine2, ones, zeros, ...refs]);
  }
  // The depthwise filter gradient, its images shared among the threads, against the same driver
  // over every image on this thread, the images' sums added in image order.
  const { DEPTHWISE, DEPTHWISE_FILTER, depthwiseArgs } = require('@rnas/engine/dist/kernels/gemm');
  const depthwise = [];
  for (const [shape, stride, dilation] of [[[64, 32, 32, 16], 1, 1], [[64, 16, 16, 36], 1, 2], [[64, 32, 32, 32], 2, 1]]) {
    const [n, h, w, c] = shape;
    const x = tf.randomNormal(shape, 0, 1, 'float32', seed++);
    const filter = tf.randomNormal([3, 3, c, 1], 0, 1, 'float32', seed++);
    const splitBefore = threads.splitCalls;
    const y = tf.depthwiseConv2d(x, filter, stride, 'same', 'NHWC', dilation);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seed++);
    const [, ho, wo] = y.shape;
    const split = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: [stride, stride], pad: 'same', dilations: [dilation, dilation], filterShape: [3, 3, c, 1] });
    const splits = threads.splitCalls - splitBefore;
    const size = 9 * c;
    const images = tf.zeros([n, size]);
    // 'same' padding: (k - 1) * dilation + 1 - stride split with the smaller half on top (tfjs).
    const padAll = Math.max((ho - 1) * stride + 2 * dilation + 1 - h, 0);
    const top = Math.floor(padAll / 2);
    DRIVERS[DEPTHWISE_FILTER](kernels, depthwiseArgs({ x: heap(x).byteOffset, y: heap(dy).byteOffset, out: heap(images).byteOffset, n, h, w, ho, wo, c, sh: stride, sw: stride, dh: dilation, dw: dilation, top, left: top, kh: 3, kw: 3 }), 0, n);
    const perImage = images.dataSync();
    const one = new Float32Array(size);
    for (let b = 0; b < n; b++) for (let i = 0; i < size; i++) one[i] = Math.fround(one[i] + perImage[b * size + i]);
    const got = split.dataSync();
    let equal = got.length === size;
    for (let i = 0; i < size; i++) if (got[i] !== one[i]) equal = false;
    // In double precision: dW[ky, kx, ch] = sum of x at the tap times dy.
    const xs = x.dataSync(), dys = dy.dataSync();
    let err = 0;
    for (let t = 0; t < 9; t++) {
      const [ky, kx] = [Math.floor(t / 3), t % 3];
      for (let ch = 0; ch < c; ch++) {
        let sum = 0, magnitude = 0;
        for (let b = 0; b < n; b++) for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
          const [r, q] = [oh * stride + ky * dilation - top, ow * stride + kx * dilation - top];
          if (r < 0 || r >= h || q < 0 || q >= w) continue;
          const term = xs[((b * h + r) * w + q) * c + ch] * dys[((b * ho + oh) * wo + ow) * c + ch];
          sum += term;
          magnitude += Math.abs(term);
        }
        err = Math.max(err, Math.abs(got[t * c + ch] - sum) / magnitude);
      }
    }
    // The forward pass (y above, split by images) against its driver over every image here.
    const forward = tf.zeros(y.shape);
    DRIVERS[DEPTHWISE](kernels, depthwiseArgs({ x: heap(x).byteOffset, y: heap(filter).byteOffset, out: heap(forward).byteOffset, n, h, w, ho, wo, c, sh: stride, sw: stride, dh: dilation, dw: dilation, top, left: top, kh: 3, kw: 3 }), 0, n);
    const forwardEqual = same(y, forward);
    depthwise.push({ shape, stride, dilation, splits, equal, err, forwardEqual });
    tf.dispose([x, filter, y, dy, split, images, forward]);
  }
  // ReLU's gradient over a large tensor (with zeros and a tail past the last four values), split.
  const reluShape = [64, 32, 32, 17];
  const rx = tf.randomNormal(reluShape, 0, 1, 'float32', seed++);
  const rdy = tf.randomNormal(reluShape, 0, 1, 'float32', seed++);
  const rxZeros = tf.where(tf.less(tf.abs(rx), 0.05), tf.zerosLike(rx), rx);
  const reluSplitBefore = threads.splitCalls;
  const rgrad = tf.grad((t) => tf.sum(tf.mul(tf.relu(t), rdy)))(rxZeros);
  const reluSplits = threads.splitCalls - reluSplitBefore;
  const [gx, gv, gdy] = [rxZeros.dataSync(), rgrad.dataSync(), rdy.dataSync()];
  let reluEqual = gv.length === gx.length;
  for (let i = 0; i < gx.length; i++) if (gv[i] !== (gx[i] > 0 ? gdy[i] : 0)) reluEqual = false;
  const relu = { splits: reluSplits, equal: reluEqual };
  tf.dispose([rx, rdy, rxZeros, rgrad]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 20; i++) {
    const a = tf.randomNormal([2048, 32]);
    const b = tf.randomNormal([32, 32]);
    const bias = tf.randomNormal([32]);
    tf.dispose([a, b, bias, tf.matMul(a, b), tf.matMul(a, b, false, true), tf.matMul(a, a, true, false), tf.fused.matMul({ a, b, bias, activation: 'relu' })]);
  }
  const after = tf.memory().numTensors;
  let tooMany = '';
  try { threads.run(NN, new Array(40).fill(0), 8, 1, 1 << 30); } catch (e) { tooMany = String(e.message); }
  require('fs').writeFileSync(process.env.OUT, JSON.stringify({ engineThreads: info.threads, kernelThreads: threads && threads.threads, results, channels, depthwise, relu, before, after, tooMany }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

interface Out {
  engineThreads: number;
  kernelThreads: number | null;
  results: {
    shape: [number, number, number];
    nnSplitEqualsOne: boolean;
    ntEqualsNn: boolean;
    tnSplitEqualsOne: boolean | null;
    fusedSplitEqualsOne: boolean;
    splits: number;
    host: {
      nn: number[][];
      tn: number[][];
      fused: number[][];
      bias: number[];
      a: number[][];
      b: number[][];
      dy: number[][];
    };
  }[];
  channels: { shape: number[]; splits: number; equal: boolean[]; err: number }[];
  depthwise: {
    shape: number[];
    stride: number;
    dilation: number;
    splits: number;
    equal: boolean;
    err: number;
    forwardEqual: boolean;
  }[];
  relu: { splits: number; equal: boolean };
  before: number;
  after: number;
  tooMany: string;
}

let out: Out;

beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rnas-kthreads-'));
  try {
    const file = path.join(dir, 'out.json');
    const child = spawnSync(process.execPath, ['-e', SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, OUT: file, RNAS_WASM_THREADS: '' },
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    if (child.status !== 0) throw new Error(`threaded products failed: ${child.stderr}`);
    out = JSON.parse(readFileSync(file, 'utf8')) as Out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

it('a two-thread engine has one kernel thread beside the calling thread', () => {
  expect(out.engineThreads).toBe(2);
  expect(out.kernelThreads).toBe(2);
});

it('split products equal one-thread products bit for bit, whatever the shape', () => {
  expect(out.results).toHaveLength(5);
  for (const r of out.results) {
    // Every product here was split: the comparison is not between two one-thread runs.
    expect({ shape: r.shape, splits: r.splits >= 4 }).toEqual({ shape: r.shape, splits: true });
    expect({ shape: r.shape, equal: r.nnSplitEqualsOne }).toEqual({ shape: r.shape, equal: true });
    expect({ shape: r.shape, equal: r.ntEqualsNn }).toEqual({ shape: r.shape, equal: true });
    expect({ shape: r.shape, equal: r.fusedSplitEqualsOne }).toEqual({ shape: r.shape, equal: true });
    if (r.tnSplitEqualsOne !== null) {
      expect({ shape: r.shape, equal: r.tnSplitEqualsOne }).toEqual({ shape: r.shape, equal: true });
    }
  }
});

it("batch norm's per-channel passes split by pixels equal the one-thread passes bit for bit", () => {
  expect(out.channels.map((r) => r.shape)).toEqual([
    [64, 32, 32, 16],
    [17, 33, 29, 36],
    [3, 5, 5, 8],
  ]);
  for (const r of out.channels) {
    // dot, centred dot, affine, two-term affine.
    expect({ shape: r.shape, equal: r.equal }).toEqual({ shape: r.shape, equal: [true, true, true, true] });
    // Against double-precision sums: the error relative to the sum of the terms' magnitudes.
    expect({ shape: r.shape, small: r.err < 1e-6 }).toEqual({ shape: r.shape, small: true });
  }
  // The two large ones ran on both threads (each of the four passes split); the tiny one did not.
  expect(out.channels.map((r) => r.splits)).toEqual([4, 4, 0]);
});

it('the depthwise convolution and its filter gradient split by images equal them on one thread bit for bit', () => {
  expect(out.depthwise.map((r) => [r.shape, r.stride, r.dilation])).toEqual([
    [[64, 32, 32, 16], 1, 1],
    [[64, 16, 16, 36], 1, 2],
    [[64, 32, 32, 32], 2, 1],
  ]);
  for (const r of out.depthwise) {
    const what = { shape: r.shape, stride: r.stride, dilation: r.dilation };
    // Two split calls: the forward pass, then the filter gradient.
    expect({ ...what, splits: r.splits, equal: r.equal, forward: r.forwardEqual }).toEqual({
      ...what,
      splits: 2,
      equal: true,
      forward: true,
    });
    // Against double-precision sums, relative to the sum of the terms' magnitudes.
    expect({ ...what, small: r.err < 1e-6 }).toEqual({ ...what, small: true });
  }
});

it("ReLU's gradient over a large tensor runs split and equals dy where x > 0, else 0", () => {
  expect(out.relu.equal).toBe(true);
  // The only call of the expression on the kernel threads (its products and sums are tfjs's).
  expect(out.relu.splits).toBe(1);
});

/** Largest |x - ref| relative to the largest |ref|, for sums of products of normal values. */
function worst(x: number[][], ref: (i: number, j: number) => number): number {
  let diff = 0;
  let scale = 0;
  x.forEach((row, i) =>
    row.forEach((v, j) => {
      const r = ref(i, j);
      diff = Math.max(diff, Math.abs(v - r));
      scale = Math.max(scale, Math.abs(r));
    }),
  );
  return diff / scale;
}

it('split products agree with double-precision sums', () => {
  for (const { shape, host } of out.results) {
    const [, k] = shape;
    const m = host.a.length;
    const nnErr = worst(host.nn, (i, j) => {
      let s = 0;
      for (let q = 0; q < k; q++) s += host.a[i][q] * host.b[q][j];
      return s;
    });
    const tnErr = worst(host.tn, (i, j) => {
      let s = 0;
      for (let q = 0; q < m; q++) s += host.a[q][i] * host.dy[q][j];
      return s;
    });
    // The fused product: max(a b + bias, 0).
    const fusedErr = worst(host.fused, (i, j) => {
      let s = host.bias[j];
      for (let q = 0; q < k; q++) s += host.a[i][q] * host.b[q][j];
      return Math.max(s, 0);
    });
    expect({ shape, nn: nnErr < 1e-5, tn: tnErr < 1e-5, fused: fusedErr < 1e-5 }).toEqual({
      shape,
      nn: true,
      tn: true,
      fused: true,
    });
  }
});

it('products on the threads leave no tensors behind', () => {
  expect(out.after).toBe(out.before);
});

it('refuses more arguments than a worker slot holds, naming the count', () => {
  expect(out.tooMany).toBe('kernel threads: 40 arguments, at most 24');
});

describe('chunks of a split call', () => {
  // Pure functions of kernel-threads.ts, in this process (no engine needed).
  it('cut the work into consecutive aligned ranges that cover it once', () => {
    for (const [total, align, chunks] of [
      [4099, 1, 16],
      [1000, 4, 16],
      [17, 4, 5],
      [64, 8, 8],
    ]) {
      let next = 0;
      for (let c = 0; c < chunks; c++) {
        const [start, end] = chunkBounds(c, chunks, total, align);
        expect({ c, start }).toEqual({ c, start: next });
        expect(end).toBeGreaterThanOrEqual(start);
        if (end < total) expect(end % align).toBe(0);
        next = end;
      }
      expect(next).toBe(total);
    }
  });

  it('are claimed once each, and not at all by a thread woken for an earlier call', () => {
    const control = new Int32Array(new SharedArrayBuffer(64));
    Atomics.store(control, NEXT, 7 << 16);
    const claimed = [claimChunk(control, 7, 3), claimChunk(control, 7, 3), claimChunk(control, 7, 3)];
    expect(claimed).toEqual([0, 1, 2]);
    expect(claimChunk(control, 7, 3)).toBe(-1);
    Atomics.store(control, NEXT, 8 << 16);
    expect(claimChunk(control, 7, 3)).toBe(-1);
    expect(claimChunk(control, 8, 3)).toBe(0);
  });
});
