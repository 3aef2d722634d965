import {
  tf,
  channelAffine,
  channelDot,
  dilatedDepthwiseConv2d,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor4D,
} from '@rnas/engine';
import { recordingGradients } from './derived';
import { batchNormParams, convParam, depthwiseParam, linearParams, type ParamInfo } from './params';

/** A feature map's shape without the batch: `[height, width, channels]` (NHWC). */
export type Shape3 = readonly [h: number, w: number, c: number];

/** Result of tracing a module on an input shape: its output shape and multiply-adds per image. */
export interface Trace {
  readonly shape: Shape3;
  readonly macs: number;
  /**
   * Values per image of the tensors the module makes in a training forward pass (every layer's
   * output): what a training step keeps for the backward pass unless it recomputes.
   */
  readonly activations: number;
}

function size(shape: Shape3): number {
  return shape[0] * shape[1] * shape[2];
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
  /**
   * Inference: what `compute` derives from the parameters `sources`, kept with the parameters
   * until one of them changes (derived.ts). Contexts without it compute on every call.
   */
  derived?(key: string, sources: readonly Tensor[], compute: () => Tensor[]): Tensor[];
}

/** `ctx.derived` where the context has it, else `compute` now. */
function derivedOf(
  ctx: ForwardContext,
  key: string,
  sources: readonly Tensor[],
  compute: () => Tensor[],
): Tensor[] {
  return ctx.derived === undefined ? compute() : ctx.derived(key, sources, compute);
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
    return { shape: input, macs: 0, activations: size(input) };
  }
  apply(x: Tensor4D): Tensor4D {
    return tf.relu(x);
  }
}

/** The identity (skip_connect at stride 1); drop path never applies to it. */
export class Identity implements Module {
  readonly params: readonly ParamInfo[] = [];
  trace(input: Shape3): Trace {
    return { shape: input, macs: 0, activations: 0 };
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
    const shape: Shape3 = [h, w, this.cout];
    return {
      shape,
      macs: h * w * this.cout * this.cin * this.kernel[0] * this.kernel[1],
      activations: size(shape),
    };
  }
  /** A 1x1 unpadded convolution: a matrix product (of the subsampled input for a stride). */
  get pointwise(): boolean {
    return this.kernel[0] === 1 && this.kernel[1] === 1 && this.pad[0] === 0 && this.pad[1] === 0;
  }
  /** The filter of a pointwise convolution as a [cin, cout] matrix. */
  matrix(ctx: ForwardContext): Tensor2D {
    return tf.reshape(ctx.param(this.params[0].name), [this.cin, this.cout]);
  }
  /**
   * A pointwise convolution as a matrix product: `multiply` takes the (subsampled) pixels as
   * [N·Ho·Wo, cin] and returns [N·Ho·Wo, cout].
   */
  pointwiseProduct(x: Tensor4D, multiply: (pixels: Tensor2D) => Tensor2D): Tensor4D {
    const picked = subsample(x, this.stride[0], this.stride[1]);
    const [n, ho, wo] = picked.shape;
    return tf.reshape(multiply(tf.reshape(picked, [n * ho * wo, this.cin])), [n, ho, wo, this.cout]);
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const [ph, pw] = this.pad;
    if (this.pointwise) {
      // A 1x1 conv is a matrix product; its gradients are matrix products too, which every
      // backend runs fast (Conv2DBackpropFilter is slow on cpu and emulated on wasm).
      return this.pointwiseProduct(x, (pixels) => tf.matMul(pixels, this.matrix(ctx)));
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
    const shape: Shape3 = [h, w, this.c];
    return { shape, macs: h * w * this.c * this.k * this.k, activations: size(shape) };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const filter = ctx.param(this.params[0].name) as Tensor4D;
    if (this.dilation > 1) {
      // Inference runs the backend's own dilated convolution (one pass; XNNPACK's on wasm). tfjs
      // has no gradient for it, so training uses the engine's op, which has one everywhere.
      if (this.stride === 1 && !ctx.training && !recordingGradients()) {
        return tf.depthwiseConv2d(x, filter, 1, this.pad, 'NHWC', this.dilation);
      }
      return dilatedDepthwiseConv2d(x, filter, this.stride, this.dilation, this.pad);
    }
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
    return { shape: input, macs: 0, activations: size(input) };
  }
  /** The parameters inference reads: γ, β, the running mean and variance. */
  private inferenceParams(ctx: ForwardContext): {
    gamma: Tensor1D;
    beta: Tensor1D;
    mean: Tensor1D;
    variance: Tensor1D;
  } {
    return {
      gamma: ctx.param(`${this.name}.weight`) as Tensor1D,
      beta: ctx.param(`${this.name}.bias`) as Tensor1D,
      mean: ctx.param(`${this.name}.running_mean`) as Tensor1D,
      variance: ctx.param(`${this.name}.running_var`) as Tensor1D,
    };
  }
  /** Inference: γ/√(σ²+ε) from the running variance, with the running mean and β. */
  private running(ctx: ForwardContext): { scale: Tensor1D; mean: Tensor1D; beta: Tensor1D } {
    const { gamma, beta, mean, variance } = this.inferenceParams(ctx);
    const [scale] = derivedOf(ctx, `${this.name} scale eps ${ctx.bnEps}`, [gamma, variance], () => [
      tf.mul(gamma, tf.rsqrt(tf.add(variance, ctx.bnEps))),
    ]);
    return { scale: scale as Tensor1D, mean, beta };
  }
  /** Inference: the norm as x·scale + shift, its running statistics folded into [C] vectors. */
  folded(ctx: ForwardContext): { scale: Tensor1D; shift: Tensor1D } {
    const { scale, mean, beta } = this.running(ctx);
    return { scale, shift: tf.sub(beta, tf.mul(mean, scale)) as Tensor1D };
  }
  /** The parameters `folded` reads, for keying what is derived from it. */
  foldedSources(ctx: ForwardContext): Tensor[] {
    const { gamma, beta, mean, variance } = this.inferenceParams(ctx);
    return [gamma, beta, mean, variance];
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    if (!ctx.training) {
      // (x − mean)·scale + β with the statistics folded into [C] vectors: one pass, 4-5x faster
      // than wasm's FusedBatchNorm kernel (a scalar loop).
      const { scale, mean, beta } = this.running(ctx);
      return channelAffine({ x, scale, center: mean }, beta);
    }
    const gamma = ctx.param(`${this.name}.weight`) as Tensor1D;
    const beta = ctx.param(`${this.name}.bias`) as Tensor1D;
    const [n, h, w] = x.shape;
    // The running variance uses the unbiased estimate, undefined for a single value (PyTorch refuses too).
    if (n * h * w < 2)
      throw new Error(`${this.name}: training batch norm needs more than 1 value per channel`);
    return batchNormTraining(x, gamma, beta, ctx.bnEps, (stats) => ctx.recordBatchStats(this.name, stats));
  }
}

/**
 * Training-mode batch norm with a hand-written gradient: the closed form
 * dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) rather than the much longer chain autodiff builds
 * through the moments. Every full-size step is one of the engine's per-channel passes (a SIMD
 * kernel each on wasm): the mean, the centred variance and the normalisation forward; the sums of
 * dy and dy·(x − mean), and dx as one affine map of dy and x, backward. Only the input, which is
 * alive anyway, is kept for the backward pass.
 */
function batchNormTraining(
  x: Tensor4D,
  gamma: Tensor1D,
  beta: Tensor1D,
  eps: number,
  onStats: (stats: BatchStats) => void,
): Tensor4D {
  const [n, h, w] = x.shape;
  const m = n * h * w;
  const op = tf.customGrad((...args) => {
    const [xIn, gammaIn, betaIn, save] = args as [Tensor4D, Tensor1D, Tensor1D, (saved: Tensor[]) => void];
    const mean = tf.div(channelDot(xIn), m) as Tensor1D;
    const variance = tf.div(channelDot(xIn, xIn, mean, mean), m) as Tensor1D;
    const rstd = tf.rsqrt(tf.add(variance, eps)) as Tensor1D;
    const y = channelAffine({ x: xIn, scale: tf.mul(gammaIn, rstd) as Tensor1D, center: mean }, betaIn);
    onStats({ mean, variance, count: m });
    save([xIn, mean, rstd, gammaIn]);
    return {
      value: y,
      // tfjs runs a custom gradient outside any scope of its own: the tidy frees the temporaries
      // now instead of at the end of the whole backward pass.
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        tf.tidy(() => {
          const [xs, mu, rs, g] = saved as [Tensor4D, Tensor1D, Tensor1D, Tensor1D];
          const dy4 = dy as Tensor4D;
          const sumDy = channelDot(dy4);
          // With x̂ = (x − mean)·rstd: sum(dy·x̂) = rstd·sum(dy·(x − mean)).
          const sumDyXc = channelDot(dy4, xs, null, mu);
          const scale = tf.mul(g, rs) as Tensor1D;
          // dx = scale·dy + (x − mean)·(−scale·rstd²·mean(dy·(x − mean))) − scale·mean(dy)
          const slope = tf.mul(scale, tf.mul(tf.square(rs), tf.div(sumDyXc, -m))) as Tensor1D;
          const shift = tf.mul(scale, tf.div(sumDy, -m)) as Tensor1D;
          const dx = channelAffine({ x: xs, scale: slope, center: mu }, shift, { x: dy4, scale });
          return [dx, tf.mul(sumDyXc, rs), sumDy];
        }),
    };
  });
  return op(x, gamma, beta) as Tensor4D;
}

/**
 * Max pool 3x3, pad 1; padding never wins the max. Like PyTorch, each window's gradient goes to its
 * first maximum in scan order (tfjs's MaxPoolGrad on cpu, and the engine's replacement on wasm).
 */
export class MaxPool3 implements Module {
  readonly params: readonly ParamInfo[] = [];
  constructor(readonly stride: 1 | 2) {}
  trace(input: Shape3): Trace {
    const h = windowOut('max_pool_3x3', input[0], 3, this.stride, 1);
    const w = windowOut('max_pool_3x3', input[1], 3, this.stride, 1);
    const shape: Shape3 = [h, w, input[2]];
    return { shape, macs: 0, activations: size(shape) };
  }
  apply(x: Tensor4D): Tensor4D {
    return tf.maxPool(x, 3, this.stride, 1);
  }
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
    const shape: Shape3 = [h, w, input[2]];
    // With padding: the padded input and the pooled sums before the division.
    const padded = this.pad === 0 ? 0 : (input[0] + 2 * this.pad) * (input[1] + 2 * this.pad) * input[2];
    return { shape, macs: 0, activations: padded + (this.pad === 0 ? 1 : 2) * size(shape) };
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
    const shape: Shape3 = [Math.ceil(input[0] / s), Math.ceil(input[1] / s), input[2]];
    return { shape, macs: 0, activations: size(shape) };
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
    let activations = 0;
    for (const l of this.layers) {
      const t = l.trace(shape);
      shape = t.shape;
      macs += t.macs;
      activations += t.activations;
    }
    return { shape, macs, activations };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    let y = x;
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const [layer, next] = [layers[i], layers[i + 1]];
      if (!ctx.training && layer instanceof Conv && layer.pointwise && next instanceof BatchNorm) {
        const relu = layers[i + 2] instanceof Relu;
        y = pointwiseConvBn(layer, next, relu, y, ctx);
        i += relu ? 2 : 1;
        continue;
      }
      y = layer.apply(y, ctx);
    }
    return y;
  }
}

/**
 * Inference: a 1x1 convolution, its batch norm and a ReLU after them as one fused matrix product.
 * The norm's running statistics fold into the weights (W·diag(γ/√(σ²+ε))) and a bias
 * (β − μ·γ/√(σ²+ε)), and the product adds the bias and clamps in the same pass (tf.fused.matMul:
 * XNNPACK's fully-connected operator on wasm, TensorFlow's fused kernel natively), where the
 * unfused chain made two or three passes over the output. Equal to the chain up to rounding.
 */
function pointwiseConvBn(
  conv: Conv,
  bn: BatchNorm,
  relu: boolean,
  x: Tensor4D,
  ctx: ForwardContext,
): Tensor4D {
  return tf.tidy(() => {
    const sources = [ctx.param(conv.params[0].name), ...bn.foldedSources(ctx)];
    const [weights, shift] = derivedOf(
      ctx,
      `${conv.name} folding ${bn.name} eps ${ctx.bnEps}`,
      sources,
      () => {
        const { scale, shift: bias } = bn.folded(ctx);
        return [tf.mul(conv.matrix(ctx), scale), bias];
      },
    ) as [Tensor2D, Tensor1D];
    return conv.pointwiseProduct(
      x,
      (pixels) =>
        tf.fused.matMul({
          a: pixels,
          b: weights,
          bias: shift,
          activation: relu ? 'relu' : 'linear',
        }) as Tensor2D,
    );
  });
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
    const shape: Shape3 = [a.shape[0], a.shape[1], this.cout];
    const b = this.bn.trace(shape);
    // ReLU and its shifted copy at the input size; the two halves, their concatenation, the norm.
    return { shape, macs: 2 * a.macs, activations: 2 * size(input) + 2 * size(shape) + b.activations };
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
