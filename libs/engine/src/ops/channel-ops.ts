// Per-channel sums and affine maps over NHWC tensors: the passes of batch norm. On wasm (with
// WebAssembly SIMD and channels in fours) each is one pass of a SIMD kernel over the tensor (see
// kernels/simd.ts); elsewhere, the same arithmetic as tfjs ops. Results are not differentiable:
// they are for forward passes and custom gradients that define their own gradients.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { CHANNEL_AFFINE, CHANNEL_CHUNK, CHANNEL_SUMS } from '../kernels/gemm';
import { passWork, runSplit } from '../kernels/kernel-threads';
import { type SimdKernels, simdKernels } from '../kernels/simd';
import { tf } from '../tf';

/** The SIMD kernels when `tensors` can use them: wasm, float32, channels (last axis) in fours. */
function kernelsFor(...tensors: Tensor[]): SimdKernels | null {
  if (tf.getBackend() !== 'wasm') return null;
  const c = tensors[0].shape[tensors[0].rank - 1];
  if (c % 4 !== 0 || tensors.some((t) => t.dtype !== 'float32' || t.size === 0)) return null;
  return simdKernels(tf.backend() as BackendWasm);
}

function at(t: Tensor): number {
  return (tf.backend() as BackendWasm).typedArrayFromHeap(t).byteOffset;
}

/** A float32 tensor whose values the caller writes in full (no fill pass). */
function uninitialised(shape: number[]): Tensor {
  const backend = tf.backend() as BackendWasm;
  return tf.engine().makeTensorFromTensorInfo(backend.makeOutput(shape, 'float32'), backend);
}

function checkChannels(what: string, x: Tensor4D, vectors: (Tensor | null | undefined)[]): void {
  const c = x.shape[3];
  for (const v of vectors) {
    if (v !== null && v !== undefined && (v.rank !== 1 || v.shape[0] !== c)) {
      throw new Error(`${what}: per-channel vectors must have shape [${c}], got [${v.shape.join(', ')}]`);
    }
  }
}

/**
 * Per channel, the sum over N, H and W of (x - xCenter) * (y - yCenter); without `y`, of
 * (x - xCenter). Centres default to zero.
 */
export function channelDot(
  x: Tensor4D,
  y: Tensor4D | null = null,
  xCenter: Tensor1D | null = null,
  yCenter: Tensor1D | null = null,
): Tensor1D {
  if (y !== null && !tf.util.arraysEqual(x.shape, y.shape)) {
    throw new Error(`channelDot: x [${x.shape.join(', ')}] and y [${y.shape.join(', ')}] differ`);
  }
  checkChannels('channelDot', x, [xCenter, yCenter]);
  const c = x.shape[3];
  const pixels = x.size / c;
  const kernels = kernelsFor(x, ...(y === null ? [] : [y]));
  if (kernels === null) {
    return tf.tidy(() => {
      const dx = xCenter === null ? x : tf.sub(x, xCenter);
      const product = y === null ? dx : tf.mul(dx, yCenter === null ? y : tf.sub(y, yCenter));
      return tf.sum(tf.reshape(product, [pixels, c]), 0) as Tensor1D;
    });
  }
  return tf.tidy(() => {
    const backend = tf.backend() as BackendWasm;
    const zeros = tf.zeros([c]);
    const ones = tf.ones([c]);
    const chunks = Math.ceil(pixels / CHANNEL_CHUNK);
    // One row of sums per chunk (the chunks may run on several threads), added up below in chunk
    // order: the same float32 additions as one accumulator that every chunk adds its sums to.
    const partials = tf.zeros([chunks, c]);
    // Without y, a single row of ones read for every pixel (row stride 0).
    const [yAt, yStride] = y === null ? [at(ones), 0] : [at(y), 4 * c];
    const [mx, my] = [at(xCenter ?? zeros), at(yCenter ?? zeros)];
    const args = [at(x), yAt, at(partials), pixels, c, yStride, mx, my];
    runSplit(backend, CHANNEL_SUMS, args, chunks, 1, passWork(x.size));
    const rows = backend.typedArrayFromHeap(partials) as Float32Array;
    const sums = new Float32Array(c);
    for (let k = 0; k < chunks; k++) {
      for (let j = 0; j < c; j++) sums[j] = Math.fround(sums[j] + rows[k * c + j]);
    }
    return tf.tensor1d(sums);
  });
}

/** One term of `channelAffine`: (x - center) * scale, per channel. */
export interface ChannelTerm {
  readonly x: Tensor4D;
  readonly scale: Tensor1D;
  readonly center?: Tensor1D | null;
}

/** (x - center) * scale + shift per channel, plus optionally a second term `extra.x * extra.scale`. */
export function channelAffine(
  term: ChannelTerm,
  shift: Tensor1D,
  extra: ChannelTerm | null = null,
): Tensor4D {
  const { x, scale, center } = term;
  if (extra !== null && !tf.util.arraysEqual(x.shape, extra.x.shape)) {
    throw new Error(
      `channelAffine: terms of shapes [${x.shape.join(', ')}] and [${extra.x.shape.join(', ')}]`,
    );
  }
  checkChannels('channelAffine', x, [scale, center, shift, extra?.scale, extra?.center]);
  const [n, h, w, c] = x.shape;
  const kernels = kernelsFor(x, ...(extra === null ? [] : [extra.x]));
  if (kernels === null && extra === null && tf.getBackend() !== 'wasm') {
    // One fused pass elsewhere: batch norm with unit variance and no epsilon is this map exactly.
    return tf.tidy(() =>
      tf.batchNorm4d(x, center ?? (tf.zeros([c]) as Tensor1D), tf.ones([c]) as Tensor1D, shift, scale, 0),
    );
  }
  if (kernels === null || extra?.center) {
    return tf.tidy(() => {
      const part = (t: ChannelTerm) =>
        perChannel(tf.mul, t.center ? perChannel(tf.sub, t.x, t.center) : t.x, t.scale);
      const sum = extra === null ? part(term) : tf.add(part(term), part(extra));
      return perChannel(tf.add, sum as Tensor4D, shift);
    });
  }
  return tf.tidy(() => {
    const backend = tf.backend() as BackendWasm;
    const zeros = tf.zeros([c]);
    const out = uninitialised([n, h, w, c]) as Tensor4D;
    // affine2 computes a * second + (first - m) * b + s; without a second term, x with a = 0.
    const [second, a] = extra === null ? [x, zeros] : [extra.x, extra.scale];
    const [aAt, bAt, mAt, sAt] = [at(a), at(scale), at(center ?? zeros), at(shift)];
    const pixels = n * h * w;
    const args = [at(second), at(x), at(out), pixels, c, aAt, bAt, mAt, sAt];
    runSplit(backend, CHANNEL_AFFINE, args, Math.ceil(pixels / CHANNEL_CHUNK), 1, passWork(x.size));
    return out;
  });
}

/**
 * `x op v` for a per-channel vector `v`, with `v` repeated along W so that the broadcast runs over
 * rows of W·C values: wasm's binary kernels broadcast a short innermost vector at half speed.
 */
function perChannel(op: (a: Tensor, b: Tensor) => Tensor, x: Tensor4D, v: Tensor1D): Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.reshape(op(tf.reshape(x, [n * h, w * c]), tf.tile(v, [w])), [n, h, w, c]);
}
