// Kernel drivers that the threads of kernel-threads.ts share: each runs one range of a kernel's
// work (output rows of a matrix product, taps of a filter gradient) from integer arguments. Every
// range is a set of outputs that one thread computes in the order one thread would, so results do
// not depend on the number of threads. Nothing here loads tfjs: the kernel threads import it.
import type { GemmNN, GemmNNFused, SimdKernels } from './simd';

/** A driver: the work units [start, end) of the kernel call described by `args`. */
export type Driver = (kernels: SimdKernels, args: ArrayLike<number>, start: number, end: number) => void;

/** The operands of one product, as byte addresses on the backend's heap. */
export interface Product {
  /** a: [m, k] row-major (NN), or [k, m] (TN). */
  readonly a: number;
  /** b: [k, n] row-major. */
  readonly b: number;
  /** out: [m, n] row-major. */
  readonly out: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

export const productArgs = (p: Product): number[] => [p.a, p.b, p.out, p.m, p.k, p.n];

/**
 * Rows [r0, r1) of a b for a [m, k] and b [k, n], n a multiple of 4: 4x8 blocks, then a 4-column
 * block where n leaves one, then the rows past the last multiple of 4 one at a time. With
 * `fused` [bias address, relu 0/1] the blocks are stored with the bias added and, for relu 1,
 * clamped at 0 (the gemmNNFused kernels).
 */
function productRows(
  kernels: SimdKernels,
  args: ArrayLike<number>,
  r0: number,
  r1: number,
  fused: [number, number] | null,
): void {
  const [a, b, out, , k, n] = args as number[];
  const eights = n >> 3;
  const four = (n & 7) === 4;
  const blocks = (r1 - r0) >> 2;
  const rest = r1 - r0 - 4 * blocks;
  const lower = fused !== null && fused[1] === 1 ? 0 : -Infinity;
  const call = (kernel: GemmNN, fusedKernel: GemmNNFused, at: number[], count: number, cols: number) => {
    const [aAt, bAt, outAt, biasAt] = at;
    if (fused === null) kernel(aAt, bAt, outAt, k, 4 * k, 4 * n, 4 * n, count, cols);
    else fusedKernel(aAt, bAt, outAt, k, 4 * k, 4 * n, 4 * n, count, cols, biasAt, lower);
  };
  const run = (four8: boolean, row: number, count: number) => {
    const aAt = a + 4 * row * k;
    const outAt = out + 4 * row * n;
    const biasAt = fused === null ? 0 : fused[0];
    const [k8, f8, k4, f4] = four8
      ? [kernels.gemmNN, kernels.gemmNNFused, kernels.gemmNN4, kernels.gemmNNFused4]
      : [kernels.gemmNN1, kernels.gemmNNFused1, kernels.gemmNN14, kernels.gemmNNFused14];
    if (eights > 0) call(k8, f8, [aAt, b, outAt, biasAt], count, eights);
    if (four) call(k4, f4, [aAt, b + 32 * eights, outAt + 32 * eights, biasAt + 32 * eights], count, 1);
  };
  if (blocks > 0) run(true, r0, blocks);
  if (rest > 0) run(false, r0 + 4 * blocks, rest);
}

const nnRows: Driver = (kernels, args, r0, r1) => productRows(kernels, args, r0, r1, null);

/** nnRows with the bias and ReLU of a fused product: args as productArgs, then bias and relu (0/1). */
const nnRowsFused: Driver = (kernels, args, r0, r1) => productRows(kernels, args, r0, r1, [args[6], args[7]]);

/** Rows of the inner axis per kernel call in a^T b: both operands' rows stay in the cache. */
const CHUNK_BYTES = 128 * 1024;

/**
 * Rows [i0, i1) (multiples of 4) of a^T b for a [k, m] and b [k, n] (m and n multiples of 4),
 * added to `out`, which starts zeroed: 4x8 output blocks (4x4 for a last odd group of four
 * columns), summed over chunks of the k rows.
 */
const tnRows: Driver = (kernels, args, i0, i1) => {
  const [a, b, out, m, k, n] = args as number[];
  const chunk = Math.max(16, Math.floor(CHUNK_BYTES / (4 * (m + n))));
  for (let k0 = 0; k0 < k; k0 += chunk) {
    const rows = Math.min(chunk, k - k0);
    for (let i = i0; i < i1; i += 4) {
      for (let j = 0; j < n; j += 8) {
        (j + 8 <= n ? kernels.gemmTN : kernels.gemmTN4)(
          a + 4 * (k0 * m + i),
          b + 4 * (k0 * n + j),
          out + 4 * (i * n + j),
          rows,
          4 * m,
          4 * n,
          4 * n,
        );
      }
    }
  }
};

/**
 * Output columns [first, end) whose window tap `kx` reads a column inside the input (of width `w`,
 * stride `sw`, `left` padding columns): the columns a filter gradient sums over for that tap.
 */
export function tapColumns(kx: number, w: number, wo: number, sw: number, left: number): [number, number] {
  const first = Math.max(0, Math.ceil((left - kx) / sw));
  const end = Math.min(wo, Math.floor((w - 1 + left - kx) / sw) + 1);
  return [first, end];
}

/** A convolution's filter gradient: dW[tap, ci, co] = sum over pixels of x[.., ci] * dy[.., co]. */
export interface ConvFilterGrad {
  /** Byte addresses: x [n, h, w, ci], dy [n, ho, wo, co], acc [kh * kw, ci, co] (zeroed). */
  readonly x: number;
  readonly dy: number;
  readonly acc: number;
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly ho: number;
  readonly wo: number;
  /** Channels in and out, both multiples of 4. */
  readonly ci: number;
  readonly co: number;
  readonly sh: number;
  readonly sw: number;
  readonly top: number;
  readonly left: number;
  readonly kh: number;
  readonly kw: number;
}

export const convFilterArgs = (d: ConvFilterGrad): number[] => [
  d.x,
  d.dy,
  d.acc,
  d.n,
  d.h,
  d.w,
  d.ho,
  d.wo,
  d.ci,
  d.co,
  d.sh,
  d.sw,
  d.top,
  d.left,
  d.kh,
  d.kw,
];

/**
 * Taps [t0, t1) of a convolution's filter gradient: per (image, output row, tap), x's row at the
 * tap (its pixels `sw` apart) transposed times dy's row, over the output columns whose tap lands
 * inside the input, in 4x8 blocks (gemmTN) of input by output channels. A tap's sums are one
 * thread's, in image and row order.
 */
const convFilterTaps: Driver = (kernels, args, t0, t1) => {
  const [xAt, dyAt, accAt, n, h, w, ho, wo, ci, co, sh, sw, top, left, , kw] = args as number[];
  const [xPixel, dyPixel] = [4 * ci, 4 * co];
  const taps: number[][] = [];
  for (let t = t0; t < t1; t++) {
    const [ky, kx] = [Math.floor(t / kw), t % kw];
    const [first, end] = tapColumns(kx, w, wo, sw, left);
    if (end > first) taps.push([ky, first, end, first * sw + kx - left, accAt + t * ci * dyPixel]);
  }
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < ho; oh++) {
      const dyRow = dyAt + (b * ho + oh) * wo * dyPixel;
      for (const [ky, first, end, q, acc] of taps) {
        const r = oh * sh + ky - top;
        if (r < 0 || r >= h) continue;
        const xStart = xAt + ((b * h + r) * w + q) * xPixel;
        const dyStart = dyRow + first * dyPixel;
        for (let i = 0; i < ci; i += 4) {
          for (let j = 0; j < co; j += 8) {
            (j + 8 <= co ? kernels.gemmTN : kernels.gemmTN4)(
              xStart + 4 * i,
              dyStart + 4 * j,
              acc + i * dyPixel + 4 * j,
              end - first,
              sw * xPixel,
              dyPixel,
              dyPixel,
            );
          }
        }
      }
    }
  }
};

/**
 * A depthwise convolution with multiplier 1 and its geometry, for the drivers of the forward pass
 * (depthwiseImages: y the filter [kh, kw, c], out the output [n, ho, wo, c]) and of the filter
 * gradient (depthwiseFilterImages: y is dy [n, ho, wo, c], out the zeroed sums [n, kh * kw, c]).
 */
export interface DepthwiseOperands {
  /** Byte addresses: x [n, h, w, c], then y and out as above. */
  readonly x: number;
  readonly y: number;
  readonly out: number;
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly ho: number;
  readonly wo: number;
  /** Channels: the forward pass's kernels take them in fours; mac any number. */
  readonly c: number;
  readonly sh: number;
  readonly sw: number;
  readonly dh: number;
  readonly dw: number;
  readonly top: number;
  readonly left: number;
  readonly kh: number;
  readonly kw: number;
}

export const depthwiseArgs = (d: DepthwiseOperands): number[] => [
  d.x,
  d.y,
  d.out,
  d.n,
  d.h,
  d.w,
  d.ho,
  d.wo,
  d.c,
  d.sh,
  d.sw,
  d.dh,
  d.dw,
  d.top,
  d.left,
  d.kh,
  d.kw,
];

/**
 * Images [b0, b1) of a depthwise filter gradient: per (image, output row, tap), one `mac` of dy's
 * row against the input row the tap reads (its pixels `sw` apart, `dw` per tap column), over the
 * output columns whose tap lands inside the input, into the image's own zeroed sums
 * (`acc` + b * kh * kw * c floats); the caller adds the images' sums up in image order. So the
 * result does not depend on how the images are shared among threads.
 */
const depthwiseFilterImages: Driver = (kernels, args, b0, b1) => {
  const [xAt, dyAt, accAt, , h, w, ho, wo, c, sh, sw, dh, dw, top, left, kh, kw] = args as number[];
  const pixel = 4 * c;
  const taps: number[][] = [];
  for (let t = 0; t < kh * kw; t++) {
    const [ky, kx] = [Math.floor(t / kw), t % kw];
    const [first, end] = tapColumns(kx * dw, w, wo, sw, left);
    if (end > first) taps.push([ky * dh, first, end, first * sw + kx * dw - left, t * pixel]);
  }
  for (let b = b0; b < b1; b++) {
    const image = accAt + b * kh * kw * pixel;
    for (let oh = 0; oh < ho; oh++) {
      const dyRow = dyAt + (b * ho + oh) * wo * pixel;
      for (const [dy, first, end, q, tap] of taps) {
        const r = oh * sh + dy - top;
        if (r < 0 || r >= h) continue;
        const xRow = xAt + (b * h + r) * w * pixel;
        kernels.mac(xRow + q * pixel, dyRow + first * pixel, image + tap, end - first, c, sw * pixel, pixel);
      }
    }
  }
};

/**
 * Runs of consecutive output indices along one axis that see the same taps: [start, end, first
 * tap, taps]. Output o reads input o * stride + t * dilation - pad for taps t < k; taps that land
 * outside [0, size) are padding and contribute nothing.
 */
export function tapRuns(
  outSize: number,
  size: number,
  k: number,
  stride: number,
  dilation: number,
  pad: number,
): number[][] {
  const runs: number[][] = [];
  for (let o = 0; o < outSize; o++) {
    const base = o * stride - pad;
    const first = Math.min(k, Math.max(0, Math.ceil(-base / dilation)));
    const end = Math.max(first, Math.min(k, Math.floor((size - 1 - base) / dilation) + 1));
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === o && last[2] === first && last[3] === end - first) last[1] = o + 1;
    else runs.push([o, o + 1, first, end - first]);
  }
  return runs;
}

/**
 * Images [b0, b1) of a depthwise convolution with multiplier 1 (args as depthwiseArgs): per image, one call of the depthwise kernels for each block of
 * output rows and columns that see the same taps, 16 channels at a time, then 4. Every output
 * value is one thread's sum over its taps in row-major order.
 */
const depthwiseImages: Driver = (kernels, args, b0, b1) => {
  const [xAt, wAt, outAt, , h, w, ho, wo, c, sh, sw, dh, dw, top, left, kh, kw] = args as number[];
  const pixel = 4 * c;
  const rows = tapRuns(ho, h, kh, sh, dh, top);
  const cols = tapRuns(wo, w, kw, sw, dw, left);
  const blocks = c >> 4;
  const fours = (c & 15) >> 2;
  for (let b = b0; b < b1; b++) {
    for (const [r0, r1, ky, kys] of rows) {
      for (const [c0, c1, kx, kxs] of cols) {
        const x = xAt + ((b * h + r0 * sh + ky * dh - top) * w + c0 * sw + kx * dw - left) * pixel;
        const wt = wAt + (ky * kw + kx) * pixel;
        const out = outAt + ((b * ho + r0) * wo + c0) * pixel;
        const call = (kernel: typeof kernels.depthwise16, offset: number, groups: number) =>
          kernel(
            x + offset,
            wt + offset,
            out + offset,
            r1 - r0,
            c1 - c0,
            c,
            sw * pixel,
            sh * w * pixel,
            wo * pixel,
            dw * pixel,
            dh * w * pixel,
            kys,
            kxs,
            kw * pixel,
            groups,
          );
        if (blocks > 0) call(kernels.depthwise16, 0, blocks);
        if (fours > 0) call(kernels.depthwise4, 64 * blocks, fours);
      }
    }
  }
};

/** Pixels per call of the per-channel passes: a call sums its pixels in registers. */
export const CHANNEL_CHUNK = 1024;

/**
 * Chunks [k0, k1) of a per-channel sum over an NHWC tensor of `c` channels (a multiple of 4): chunk
 * k is pixels [k * CHANNEL_CHUNK, ...), and its sums of (x - mx) * (y - my) are added to the
 * zeroed row k of `partials` ([chunks, c]); the caller adds the rows up in chunk order, as one
 * thread adding each chunk's sums to one accumulator would. yStride 0 reads one row of y for
 * every pixel.
 */
const channelSums: Driver = (kernels, args, k0, k1) => {
  const [x, y, partials, pixels, c, yStride, mx, my] = args as number[];
  for (let k = k0; k < k1; k++) {
    const p = k * CHANNEL_CHUNK;
    const count = Math.min(CHANNEL_CHUNK, pixels - p);
    kernels.cmac(x + 4 * c * p, y + yStride * p, partials + 4 * c * k, count, c, yStride, mx, my);
  }
};

/**
 * Chunks [k0, k1) of affine2's per-channel map of two terms, out = x·a + (y - m)·b + s, over
 * pixels as channelSums cuts them: elementwise, so any split gives the same values.
 */
const channelAffine: Driver = (kernels, args, k0, k1) => {
  const [x, y, out, pixels, c, a, b, m, s] = args as number[];
  for (let k = k0; k < k1; k++) {
    const offset = 4 * c * k * CHANNEL_CHUNK;
    const count = Math.min(CHANNEL_CHUNK, pixels - k * CHANNEL_CHUNK);
    kernels.affine2(x + offset, y + offset, out + offset, count, c, a, b, m, s);
  }
};

/**
 * Vectors [v0, v1) of ReLU's gradient (reluGrad: out = dy where x > 0, else 0, four values a
 * vector): args x, dy, out (byte addresses). Elementwise, so any split gives the same values.
 */
const reluGradVectors: Driver = (kernels, args, v0, v1) => {
  const [x, dy, out] = args as number[];
  kernels.reluGrad(x + 16 * v0, dy + 16 * v0, out + 16 * v0, v1 - v0);
};

export const DRIVERS: readonly Driver[] = [
  nnRows,
  tnRows,
  convFilterTaps,
  nnRowsFused,
  channelSums,
  channelAffine,
  depthwiseFilterImages,
  depthwiseImages,
  reluGradVectors,
];
export type DriverId = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
export const NN: DriverId = 0;
export const TN: DriverId = 1;
export const CONV_FILTER: DriverId = 2;
export const NN_FUSED: DriverId = 3;
export const CHANNEL_SUMS: DriverId = 4;
export const CHANNEL_AFFINE: DriverId = 5;
export const DEPTHWISE_FILTER: DriverId = 6;
export const DEPTHWISE: DriverId = 7;
export const RELU_GRAD_VECTORS: DriverId = 8;
