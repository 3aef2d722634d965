import {
  tf,
  dilatedDepthwiseConv2d,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor4D,
} from '@rnas/engine';
import { batchNormParams, convParam, depthwiseParam, linearParams, type ParamInfo } from './params';

/** A feature map's shape without the batch: `[height, width, channels]` (NHWC). */
export type Shape3 = readonly [h: number, w: number, c: number];

/** Result of tracing a module on an input shape: its output shape and multiply-adds per image. */
export interface Trace {
  readonly shape: Shape3;
  readonly macs: number;
}

/** Drop path (training only): zero a sample's edge output with probability `prob`. */
export interface DropPath {
  readonly prob: number;
  /** Uniform [0, 1) source; the caller seeds it so that runs repeat. */
  readonly random: () => number;
}

/** Batch moments of one batch-norm layer in training mode (`variance` is the biased one). */
export interface BatchStats {
  readonly mean: Tensor1D;
  readonly variance: Tensor1D;
  /** Values per channel the moments were taken over (N·H·W), for the unbiased running update. */
  readonly count: number;
}

/** What a module needs besides its input while it runs. */
export interface ForwardContext {
  readonly training: boolean;
  readonly bnEps: number;
  readonly dropPath: DropPath | null;
  /** Training: recompute parameterised edge ops in the backward pass instead of keeping their activations. */
  readonly recompute: boolean;
  /** The named parameter; throws a clear error when the map lacks it. */
  param(name: string): Tensor;
  /** Training mode: receives each batch norm's moments; the receiver must keep what it holds on to. */
  recordBatchStats(name: string, stats: BatchStats): void;
}

/** A layer or a composition of layers, with its parameters under their reference names. */
export interface Module {
  readonly params: readonly ParamInfo[];
  /** Output shape and multiply-adds for an input shape; throws when the input cannot pass. */
  trace(input: Shape3): Trace;
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D;
}

/**
 * `x[:, ::sh, ::sw]` built from pad, reshape and slice, which all have gradients on every backend
 * (tfjs has none for StridedSlice).
 */
export function subsample(x: Tensor4D, sh: number, sw: number): Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  const ho = Math.ceil(h / sh);
  const wo = Math.ceil(w / sw);
  const padded =
    ho * sh === h && wo * sw === w
      ? x
      : tf.pad(x, [
          [0, 0],
          [0, ho * sh - h],
          [0, wo * sw - w],
          [0, 0],
        ]);
  // Rows: [n, ho, sh, wo·sw·c], keep phase 0. Columns: [n·ho, wo, sw·c], keep the first c values.
  const rows = tf.slice(tf.reshape(padded, [n, ho, sh, wo * sw * c]), [0, 0, 0, 0], [n, ho, 1, wo * sw * c]);
  const cols = tf.slice(tf.reshape(rows, [n * ho, wo, sw * c]), [0, 0, 0], [n * ho, wo, c]);
  return tf.reshape(cols, [n, ho, wo, c]);
}

/** Output size of a window op, as PyTorch computes it (floor), or an error naming the layer. */
export function windowOut(
  name: string,
  size: number,
  k: number,
  stride: number,
  pad: number,
  dil = 1,
): number {
  const out = Math.floor((size + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
  if (out < 1) throw new Error(`${name}: input size ${size} is too small for a ${k}-wide window`);
  return out;
}

function checkChannels(name: string, input: Shape3, c: number): void {
  if (input[2] !== c) throw new Error(`${name}: expects ${c} input channels, got ${input[2]}`);
}

export class Relu implements Module {
  readonly params: readonly ParamInfo[] = [];
  trace(input: Shape3): Trace {
    return { shape: input, macs: 0 };
  }
  apply(x: Tensor4D): Tensor4D {
    return tf.relu(x);
  }
}

/** The identity (skip_connect at stride 1); drop path never applies to it. */
export class Identity implements Module {
  readonly params: readonly ParamInfo[] = [];
  trace(input: Shape3): Trace {
    return { shape: input, macs: 0 };
  }
  apply(x: Tensor4D): Tensor4D {
    return x;
  }
}

/** Convolution without bias, explicit symmetric padding `[padH, padW]`. */
export class Conv implements Module {
  readonly params: readonly ParamInfo[];
  constructor(
    readonly name: string,
    readonly cin: number,
    readonly cout: number,
    readonly kernel: readonly [number, number],
    readonly stride: readonly [number, number],
    readonly pad: readonly [number, number],
  ) {
    this.params = [convParam(`${name}.weight`, cout, cin, kernel[0], kernel[1])];
  }
  trace(input: Shape3): Trace {
    checkChannels(this.name, input, this.cin);
    const h = windowOut(this.name, input[0], this.kernel[0], this.stride[0], this.pad[0]);
    const w = windowOut(this.name, input[1], this.kernel[1], this.stride[1], this.pad[1]);
    return { shape: [h, w, this.cout], macs: h * w * this.cout * this.cin * this.kernel[0] * this.kernel[1] };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const filter = ctx.param(this.params[0].name) as Tensor4D;
    const [ph, pw] = this.pad;
    const [sh, sw] = this.stride;
    if (this.kernel[0] === 1 && this.kernel[1] === 1 && ph === 0 && pw === 0) {
      // A 1x1 conv is a matrix product; its gradients are matrix products too, which every
      // backend runs fast (Conv2DBackpropFilter is slow on cpu and emulated on wasm).
      const picked = subsample(x, sh, sw);
      const [n, ho, wo] = picked.shape;
      const y = tf.matMul(
        tf.reshape(picked, [n * ho * wo, this.cin]),
        tf.reshape(filter, [this.cin, this.cout]),
      );
      return tf.reshape(y, [n, ho, wo, this.cout]);
    }
    const pad =
      ph === pw
        ? ph
        : ([
            [0, 0],
            [ph, ph],
            [pw, pw],
            [0, 0],
          ] as [[number, number], [number, number], [number, number], [number, number]]);
    return tf.conv2d(
      x,
      ctx.param(this.params[0].name) as Tensor4D,
      [...this.stride] as [number, number],
      pad,
    );
  }
}

/** Depthwise KxK convolution (channel multiplier 1), symmetric padding, optional dilation. */
export class Depthwise implements Module {
  readonly params: readonly ParamInfo[];
  constructor(
    readonly name: string,
    readonly c: number,
    readonly k: number,
    readonly stride: 1 | 2,
    readonly pad: number,
    readonly dilation: number,
  ) {
    this.params = [depthwiseParam(`${name}.weight`, c, k, k)];
  }
  trace(input: Shape3): Trace {
    checkChannels(this.name, input, this.c);
    const h = windowOut(this.name, input[0], this.k, this.stride, this.pad, this.dilation);
    const w = windowOut(this.name, input[1], this.k, this.stride, this.pad, this.dilation);
    return { shape: [h, w, this.c], macs: h * w * this.c * this.k * this.k };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const filter = ctx.param(this.params[0].name) as Tensor4D;
    // tfjs has no gradient for dilated depthwise convolutions; the engine's op has one everywhere.
    if (this.dilation > 1) return dilatedDepthwiseConv2d(x, filter, this.stride, this.dilation, this.pad);
    return tf.depthwiseConv2d(x, filter, this.stride, this.pad);
  }
}

/** Affine batch norm over N, H, W; batch moments in training mode, running statistics otherwise. */
export class BatchNorm implements Module {
  readonly params: readonly ParamInfo[];
  constructor(
    readonly name: string,
    readonly c: number,
  ) {
    this.params = batchNormParams(name, c);
  }
  trace(input: Shape3): Trace {
    checkChannels(this.name, input, this.c);
    return { shape: input, macs: 0 };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const gamma = ctx.param(`${this.name}.weight`) as Tensor1D;
    const beta = ctx.param(`${this.name}.bias`) as Tensor1D;
    if (!ctx.training) {
      const mean = ctx.param(`${this.name}.running_mean`) as Tensor1D;
      const variance = ctx.param(`${this.name}.running_var`) as Tensor1D;
      return tf.batchNorm(x, mean, variance, beta, gamma, ctx.bnEps);
    }
    const [n, h, w] = x.shape;
    // The running variance uses the unbiased estimate, undefined for a single value (PyTorch refuses too).
    if (n * h * w < 2)
      throw new Error(`${this.name}: training batch norm needs more than 1 value per channel`);
    return batchNormTraining(x, gamma, beta, ctx.bnEps, (stats) => ctx.recordBatchStats(this.name, stats));
  }
}

/**
 * Training-mode batch norm with a hand-written gradient. Channel reductions are matrix products
 * with a ones row (fast on every backend, unlike reductions over the outer axes), and the backward
 * pass is the closed form dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) rather than the much longer
 * chain autodiff builds through the moments.
 */
function batchNormTraining(
  x: Tensor4D,
  gamma: Tensor1D,
  beta: Tensor1D,
  eps: number,
  onStats: (stats: BatchStats) => void,
): Tensor4D {
  const [n, h, w, c] = x.shape;
  const m = n * h * w;
  const op = tf.customGrad((...args) => {
    const [xIn, gammaIn, betaIn, save] = args as [Tensor4D, Tensor1D, Tensor1D, (saved: Tensor[]) => void];
    const x2 = tf.reshape(xIn, [m, c]);
    const average = tf.fill([1, m], 1 / m);
    const mean = tf.matMul(average, x2);
    const centered = tf.sub(x2, mean);
    const variance = tf.matMul(average, tf.square(centered));
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(centered, rstd);
    const y = tf.add(tf.mul(xhat, gammaIn), betaIn);
    onStats({ mean: tf.reshape(mean, [c]), variance: tf.reshape(variance, [c]), count: m });
    save([xhat, rstd, gammaIn]);
    return {
      value: tf.reshape(y, [n, h, w, c]),
      // tfjs runs a custom gradient outside any scope of its own: the tidy frees the temporaries
      // now instead of at the end of the whole backward pass.
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        tf.tidy(() => {
          const [xh, rs, g] = saved;
          const dy2 = tf.reshape(dy, [m, c]);
          const ones = tf.ones([1, m]);
          const dbeta = tf.matMul(ones, dy2);
          const dgamma = tf.matMul(ones, tf.mul(dy2, xh));
          const centeredDy = tf.sub(dy2, tf.div(tf.add(dbeta, tf.mul(xh, dgamma)), m));
          const dx = tf.mul(tf.mul(g, rs), centeredDy);
          return [tf.reshape(dx, [n, h, w, c]), tf.reshape(dgamma, [c]), tf.reshape(dbeta, [c])];
        }),
    };
  });
  return op(x, gamma, beta) as Tensor4D;
}

/**
 * Max pool 3x3, pad 1; padding never wins the max. The gradient is computed here rather than by
 * tfjs: the wasm backend's MaxPoolGrad (tfjs 4.22) misroutes gradients at the border for some
 * shapes and batch sizes. Like PyTorch, each window's gradient goes to its first maximum in scan
 * order.
 */
export class MaxPool3 implements Module {
  readonly params: readonly ParamInfo[] = [];
  constructor(readonly stride: 1 | 2) {}
  trace(input: Shape3): Trace {
    const h = windowOut('max_pool_3x3', input[0], 3, this.stride, 1);
    const w = windowOut('max_pool_3x3', input[1], 3, this.stride, 1);
    return { shape: [h, w, input[2]], macs: 0 };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const s = this.stride;
    if (!ctx.training) return tf.maxPool(x, 3, s, 1);
    const op = tf.customGrad((...args) => {
      const [xIn, save] = args as [Tensor4D, (saved: Tensor[]) => void];
      const y = tf.maxPool(xIn, 3, s, 1);
      save([xIn, y]);
      return {
        value: y,
        gradFunc: (dy: Tensor, saved: Tensor[]) =>
          tf.tidy(() => maxPool3Backward(saved[0] as Tensor4D, saved[1] as Tensor4D, dy as Tensor4D, s)),
      };
    });
    return op(x) as Tensor4D;
  }
}

/**
 * dx of a 3x3 max pool (pad 1, stride s) from its input, output and dy. View (di, dj) of the
 * -∞-padded input holds, for every output cell, the window element at offset (di, dj); it takes dy
 * where it equals the max and no earlier view did, and its share is put back where it came from.
 * Views are cut with reshapes and slices only (rank 4 at most), which every backend runs fast:
 * for stride 2 the rows are split into (pair, phase) and the columns into (pair, phase·C).
 */
function maxPool3Backward(x: Tensor4D, y: Tensor4D, dy: Tensor4D, s: 1 | 2): Tensor4D {
  const [n, h, w, c] = x.shape;
  const [, ho, wo] = y.shape;
  // Padded sizes are multiples of the stride so that they split into (pair, phase).
  const hp = Math.ceil((h + 2) / s) * s;
  const wp = Math.ceil((w + 2) / s) * s;
  const padded = tf.pad(
    x,
    [
      [0, 0],
      [1, hp - h - 1],
      [1, wp - w - 1],
      [0, 0],
    ],
    Number.NEGATIVE_INFINITY,
  );
  // [n, hp/s, s, wp·c]: row r = s·pair + phase.
  const byRows = tf.reshape(padded, [n, hp / s, s, wp * c]);
  let claimed: Tensor4D | null = null;
  let dRows: Tensor4D | null = null;
  for (let di = 0; di < 3; di++) {
    const [rowPair, rowPhase] = [Math.floor(di / s), di % s];
    // [n·ho, wp/s, s·c]: column q = s·pair + phase, channels innermost.
    const rows = tf.reshape(tf.slice(byRows, [0, rowPair, rowPhase, 0], [n, ho, 1, wp * c]), [
      n * ho,
      wp / s,
      s * c,
    ]);
    let dCols: Tensor | null = null;
    for (let dj = 0; dj < 3; dj++) {
      const [colPair, colPhase] = [Math.floor(dj / s), dj % s];
      const view = tf.reshape(tf.slice(rows, [0, colPair, colPhase * c], [n * ho, wo, c]), [n, ho, wo, c]);
      let take = tf.cast(tf.equal(view, y), 'float32') as Tensor4D;
      if (claimed !== null) take = tf.mul(take, tf.sub(1, claimed)) as Tensor4D;
      claimed = claimed === null ? take : (tf.add(claimed, take) as Tensor4D);
      const piece = tf.pad(tf.reshape(tf.mul(take, dy), [n * ho, wo, c]), [
        [0, 0],
        [colPair, wp / s - colPair - wo],
        [colPhase * c, (s - colPhase - 1) * c],
      ]);
      dCols = dCols === null ? piece : tf.add(dCols, piece);
    }
    const piece = tf.pad(tf.reshape(dCols as Tensor, [n, ho, 1, wp * c]), [
      [0, 0],
      [rowPair, hp / s - rowPair - ho],
      [rowPhase, s - rowPhase - 1],
      [0, 0],
    ]) as Tensor4D;
    dRows = dRows === null ? piece : (tf.add(dRows, piece) as Tensor4D);
  }
  return tf.slice(tf.reshape(dRows as Tensor4D, [n, hp, wp, c]), [0, 1, 1, 0], [n, h, w, c]) as Tensor4D;
}

/**
 * Average pool without counting padded cells. The division by the count happens outside the
 * pool op (tfjs's AvgPoolGrad assumes a constant divisor), so gradients are right on every backend.
 */
export class AvgPool implements Module {
  readonly params: readonly ParamInfo[] = [];
  private readonly counts = new Map<string, Float32Array>();
  constructor(
    readonly name: string,
    readonly k: number,
    readonly stride: number,
    readonly pad: number,
  ) {}
  trace(input: Shape3): Trace {
    const h = windowOut(this.name, input[0], this.k, this.stride, this.pad);
    const w = windowOut(this.name, input[1], this.k, this.stride, this.pad);
    return { shape: [h, w, input[2]], macs: 0 };
  }
  apply(x: Tensor4D): Tensor4D {
    const { k, stride, pad } = this;
    if (pad === 0) return tf.avgPool(x, k, stride, 'valid');
    const [, h, w] = x.shape;
    const padded = tf.pad(x, [
      [0, 0],
      [pad, pad],
      [pad, pad],
      [0, 0],
    ]);
    const meanWithPad = tf.avgPool(padded, k, stride, 'valid');
    const [, ho, wo] = meanWithPad.shape;
    return tf.div(meanWithPad, tf.tensor4d(this.validFraction(h, w, ho, wo), [1, ho, wo, 1]));
  }
  /** Per output cell: (cells of the window inside the image) / (window area). */
  private validFraction(h: number, w: number, ho: number, wo: number): Float32Array {
    const key = `${h}x${w}`;
    const cached = this.counts.get(key);
    if (cached !== undefined) return cached;
    const { k, stride, pad } = this;
    const inside = (start: number, size: number) => Math.min(start + k, size + pad) - Math.max(start, pad);
    const out = new Float32Array(ho * wo);
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++)
        out[i * wo + j] = (inside(i * stride, h) * inside(j * stride, w)) / (k * k);
    }
    this.counts.set(key, out);
    return out;
  }
}

/** The `none` op: zeros shaped like the (strided) input, still connected to it as in the reference. */
export class Zero implements Module {
  readonly params: readonly ParamInfo[] = [];
  constructor(readonly stride: 1 | 2) {}
  trace(input: Shape3): Trace {
    const s = this.stride;
    return { shape: [Math.ceil(input[0] / s), Math.ceil(input[1] / s), input[2]], macs: 0 };
  }
  apply(x: Tensor4D): Tensor4D {
    return tf.mul(subsample(x, this.stride, this.stride), 0);
  }
}

/** Modules applied in order; the reference numbers their layers, ReLUs included. */
export class Sequential implements Module {
  readonly params: readonly ParamInfo[];
  constructor(readonly layers: readonly Module[]) {
    this.params = layers.flatMap((l) => l.params);
  }
  trace(input: Shape3): Trace {
    let shape = input;
    let macs = 0;
    for (const l of this.layers) {
      const t = l.trace(shape);
      shape = t.shape;
      macs += t.macs;
    }
    return { shape, macs };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    let y = x;
    for (const l of this.layers) y = l.apply(y, ctx);
    return y;
  }
}

/** ReLU, 1x1 conv, BN: the cell preprocessing (`prefix.op.1`, `prefix.op.2`). */
export function reluConvBn(prefix: string, cin: number, cout: number): Module {
  return new Sequential([
    new Relu(),
    new Conv(`${prefix}.op.1`, cin, cout, [1, 1], [1, 1], [0, 0]),
    new BatchNorm(`${prefix}.op.2`, cout),
  ]);
}

/** ReLU, then two 1x1 stride-2 convs on x and on x shifted by one pixel, concatenated, then BN. */
export class FactorizedReduce implements Module {
  readonly params: readonly ParamInfo[];
  private readonly conv1: Conv;
  private readonly conv2: Conv;
  private readonly bn: BatchNorm;
  constructor(
    readonly prefix: string,
    readonly cin: number,
    readonly cout: number,
  ) {
    if (cout % 2 !== 0)
      throw new Error(`${prefix}: FactorizedReduce needs an even channel count, got ${cout}`);
    const half = cout / 2;
    this.conv1 = new Conv(`${prefix}.conv_1`, cin, half, [1, 1], [2, 2], [0, 0]);
    this.conv2 = new Conv(`${prefix}.conv_2`, cin, half, [1, 1], [2, 2], [0, 0]);
    this.bn = new BatchNorm(`${prefix}.bn`, cout);
    this.params = [...this.conv1.params, ...this.conv2.params, ...this.bn.params];
  }
  trace(input: Shape3): Trace {
    const [h, w] = input;
    // The two halves only line up (and the reference only runs) on even sizes.
    if (h % 2 !== 0 || w % 2 !== 0) {
      throw new Error(`${this.prefix}: FactorizedReduce needs an even input size, got ${h}x${w}`);
    }
    const a = this.conv1.trace(input);
    return { shape: [a.shape[0], a.shape[1], this.cout], macs: 2 * a.macs };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const r = tf.relu(x);
    const shifted = tf.slice(r, [0, 1, 1, 0], [-1, -1, -1, -1]);
    const y = tf.concat([this.conv1.apply(r, ctx), this.conv2.apply(shifted, ctx)], 3);
    return this.bn.apply(y, ctx);
  }
}

/** Fully connected layer on a `[N, in]` input: `prefix.weight`, `prefix.bias`. */
export class Linear {
  readonly params: readonly ParamInfo[];
  constructor(
    readonly prefix: string,
    readonly cin: number,
    readonly cout: number,
  ) {
    this.params = linearParams(prefix, cin, cout);
  }
  get macs(): number {
    return this.cin * this.cout;
  }
  apply(x: Tensor2D, ctx: ForwardContext): Tensor2D {
    const w = ctx.param(`${this.prefix}.weight`) as Tensor2D;
    const b = ctx.param(`${this.prefix}.bias`) as Tensor1D;
    return tf.add(tf.matMul(x, w), b);
  }
}
