// BiSeNet's head on a backbone's stride-16 and stride-32 taps, as the RelativeNAS authors' transfer
// code builds it (`BiSeNet/BiSeNet.py`; DENSE.md section 3): the context path (global context,
// attention refinement on both taps, legacy nearest upsampling), the spatial path on the image,
// the feature fusion module and the output heads, the two auxiliary ones used in training only.
// Parameters under the reference's module names: `cp.*` (its backbone, `cp.net`, is the task's
// `backbone.`), `sp.*`, `ffm.*`, `conv_out.*`, `conv_out16.*` (on the stride-8 context feature)
// and `conv_out32.*` (on the stride-16 one).
import { tf, type Tensor4D } from '@rnas/engine';
import {
  BatchNorm,
  Conv,
  Sequential,
  type ForwardContext,
  type Module,
  type ParamInfo,
  type Shape3,
  type Trace,
} from '@rnas/nas';

/** InPlaceABN's default activation: leaky ReLU with this slope (`modules/bn.py`). */
export const LEAKY_SLOPE = 0.01;
/** Channels of the context path and of the auxiliary heads' input. */
export const CONTEXT_CHANNELS = 128;
/** Channels of the spatial path's output. */
export const SPATIAL_CHANNELS = 128;
/** Channels of the fusion module (its input is the concatenation of both paths). */
export const FUSION_CHANNELS = 256;

/** Leaky ReLU, InPlaceABN's activation after every ConvBNReLU. */
class LeakyRelu implements Module {
  readonly params: readonly ParamInfo[] = [];
  trace(input: Shape3): Trace {
    return { shape: input, macs: 0, activations: input[0] * input[1] * input[2] };
  }
  apply(x: Tensor4D): Tensor4D {
    return tf.leakyRelu(x, LEAKY_SLOPE);
  }
}

/**
 * A convolution without bias initialised as the reference's `kaiming_normal_(w, a=1)`: gain
 * √(2/(1+a²)) = 1, so N(0, 1/fan_in) with fan_in = in·kh·kw.
 */
export function kaimingConv(name: string, cin: number, cout: number, k: number, stride = 1, pad = 0): Module {
  const conv = new Conv(name, cin, cout, [k, k], [stride, stride], [pad, pad]);
  const std = 1 / Math.sqrt(cin * k * k);
  return {
    params: conv.params.map((p) => ({ ...p, init: { kind: 'normal', std } })),
    trace: (input) => conv.trace(input),
    apply: (x, ctx) => conv.apply(x, ctx),
  };
}

/**
 * `ConvBNReLU(in, out, ks, stride, padding)`: conv without bias (`{prefix}.conv`), InPlaceABN
 * (`{prefix}.bn`: batch norm, eps 1e-5, then leaky ReLU 0.01). Padding is explicit and
 * symmetric, as PyTorch's.
 */
export function convBnRelu(
  prefix: string,
  cin: number,
  cout: number,
  k: number,
  stride = 1,
  pad = 0,
): Module {
  return new Sequential([
    kaimingConv(`${prefix}.conv`, cin, cout, k, stride, pad),
    new BatchNorm(`${prefix}.bn`, cout),
    new LeakyRelu(),
  ]);
}

/** The global average over height and width, kept as a 1x1 map. */
function globalMean(x: Tensor4D): Tensor4D {
  return tf.mean(x, [1, 2], true);
}

/** A module that sees only 1x1 maps (the attention branches): traced at 1x1. */
function traceAt1x1(m: Module, c: number): number {
  return m.trace([1, 1, c]).macs;
}

/**
 * `AttentionRefinementModule(in, 128)`: F = ConvBNReLU 3x3 in→128 (`.conv`), then
 * F·sigmoid(BN(conv1x1(mean F))) with the 1x1 conv without bias (`.conv_atten`) and a plain batch
 * norm (`.bn_atten`, InPlaceABN with activation 'none').
 */
export class AttentionRefinement implements Module {
  readonly params: readonly ParamInfo[];
  private readonly conv: Module;
  private readonly attention: Module;
  constructor(
    readonly prefix: string,
    readonly cin: number,
    readonly cout: number,
  ) {
    this.conv = convBnRelu(`${prefix}.conv`, cin, cout, 3, 1, 1);
    this.attention = new Sequential([
      kaimingConv(`${prefix}.conv_atten`, cout, cout, 1),
      new BatchNorm(`${prefix}.bn_atten`, cout),
    ]);
    this.params = [...this.conv.params, ...this.attention.params];
  }
  trace(input: Shape3): Trace {
    const t = this.conv.trace(input);
    const size = t.shape[0] * t.shape[1] * t.shape[2];
    return {
      shape: t.shape,
      macs: t.macs + traceAt1x1(this.attention, this.cout),
      activations: t.activations + size,
    };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const feat = this.conv.apply(x, ctx);
    const attention = tf.sigmoid(this.attention.apply(globalMean(feat), ctx));
    return tf.mul(feat, attention);
  }
}

/** Legacy nearest upsampling (PyTorch's 'nearest': source = floor(dst·in/out)). */
function upsampleNearest(x: Tensor4D, height: number, width: number): Tensor4D {
  return tf.image.resizeNearestNeighbor(x, [height, width], false, false);
}

/** The context path's outputs: stride-8 and stride-16 features, 128 channels each. */
export interface ContextFeatures {
  readonly cp8: Tensor4D;
  readonly cp16: Tensor4D;
}

/**
 * `ContextPath` over the backbone's taps: g = ConvBNReLU 1x1 (`cp.conv_avg`) on the global mean of
 * the stride-32 tap, broadcast; cp16 = ConvBNReLU 3x3 (`cp.conv_head32`) on up(ARM32(f32) + g);
 * cp8 = ConvBNReLU 3x3 (`cp.conv_head16`) on up(ARM16(f16) + cp16), at twice f16's size.
 */
export class ContextPath {
  readonly params: readonly ParamInfo[];
  private readonly arm16: AttentionRefinement;
  private readonly arm32: AttentionRefinement;
  private readonly head32: Module;
  private readonly head16: Module;
  private readonly avg: Module;
  constructor(
    readonly c16: number,
    readonly c32: number,
  ) {
    this.arm16 = new AttentionRefinement('cp.arm16', c16, CONTEXT_CHANNELS);
    this.arm32 = new AttentionRefinement('cp.arm32', c32, CONTEXT_CHANNELS);
    this.head32 = convBnRelu('cp.conv_head32', CONTEXT_CHANNELS, CONTEXT_CHANNELS, 3, 1, 1);
    this.head16 = convBnRelu('cp.conv_head16', CONTEXT_CHANNELS, CONTEXT_CHANNELS, 3, 1, 1);
    this.avg = convBnRelu('cp.conv_avg', c32, CONTEXT_CHANNELS, 1);
    // The reference's registration order (its state dict's).
    this.params = [this.arm16, this.arm32, this.head32, this.head16, this.avg].flatMap((m) => m.params);
  }
  trace(tap16: Shape3, tap32: Shape3): { cp8: Shape3; cp16: Shape3; macs: number } {
    const [h16, w16] = tap16;
    const arm32 = this.arm32.trace(tap32);
    const arm16 = this.arm16.trace(tap16);
    const cp16 = this.head32.trace([h16, w16, CONTEXT_CHANNELS]);
    const cp8 = this.head16.trace([2 * h16, 2 * w16, CONTEXT_CHANNELS]);
    const macs = arm32.macs + arm16.macs + cp16.macs + cp8.macs + traceAt1x1(this.avg, this.c32);
    return { cp8: cp8.shape, cp16: cp16.shape, macs };
  }
  apply(tap16: Tensor4D, tap32: Tensor4D, ctx: ForwardContext): ContextFeatures {
    const [, h16, w16] = tap16.shape;
    // Upsampling a 1x1 map by nearest is a broadcast: the add does it.
    const g = this.avg.apply(globalMean(tap32), ctx);
    const sum32 = tf.add(this.arm32.apply(tap32, ctx), g) as Tensor4D;
    const cp16 = this.head32.apply(upsampleNearest(sum32, h16, w16), ctx);
    const sum16 = tf.add(this.arm16.apply(tap16, ctx), cp16) as Tensor4D;
    const cp8 = this.head16.apply(upsampleNearest(sum16, 2 * h16, 2 * w16), ctx);
    return { cp8, cp16 };
  }
}

/**
 * `SpatialPath`: ConvBNReLU 7x7 s2 p3 (3→64, `sp.conv1`), 3x3 s2 p1 64→64 twice (`sp.conv2`,
 * `sp.conv3`), 1x1 64→128 (`sp.conv_out`): stride 8.
 */
export function spatialPath(inChannels: number): Module {
  return new Sequential([
    convBnRelu('sp.conv1', inChannels, 64, 7, 2, 3),
    convBnRelu('sp.conv2', 64, 64, 3, 2, 1),
    convBnRelu('sp.conv3', 64, 64, 3, 2, 1),
    convBnRelu('sp.conv_out', 64, SPATIAL_CHANNELS, 1),
  ]);
}

/**
 * `FeatureFusionModule(256, 256)`: F = ConvBNReLU 1x1 on concat[sp, cp8] (`ffm.convblk`);
 * a = sigmoid(conv1x1 64→256 (ReLU(conv1x1 256→64 (mean F)))) without bias or BN (`ffm.conv1`,
 * `ffm.conv2`); out = F·a + F.
 */
export class FeatureFusion {
  readonly params: readonly ParamInfo[];
  private readonly block: Module;
  private readonly squeeze: Module;
  private readonly excite: Module;
  constructor(
    readonly cin: number,
    readonly cout: number,
  ) {
    this.block = convBnRelu('ffm.convblk', cin, cout, 1);
    this.squeeze = kaimingConv('ffm.conv1', cout, cout / 4, 1);
    this.excite = kaimingConv('ffm.conv2', cout / 4, cout, 1);
    this.params = [...this.block.params, ...this.squeeze.params, ...this.excite.params];
  }
  trace(sp: Shape3, cp8: Shape3): Trace {
    if (sp[0] !== cp8[0] || sp[1] !== cp8[1]) {
      throw new Error(
        `ffm: the spatial path's ${sp[0]}x${sp[1]} and the context path's ${cp8[0]}x${cp8[1]} differ`,
      );
    }
    const t = this.block.trace([sp[0], sp[1], sp[2] + cp8[2]]);
    const macs = t.macs + traceAt1x1(this.squeeze, this.cout) + traceAt1x1(this.excite, this.cout / 4);
    return { shape: t.shape, macs, activations: t.activations };
  }
  apply(sp: Tensor4D, cp8: Tensor4D, ctx: ForwardContext): Tensor4D {
    const feat = this.block.apply(tf.concat([sp, cp8], 3), ctx);
    const squeezed = tf.relu(this.squeeze.apply(globalMean(feat), ctx));
    const attention = tf.sigmoid(this.excite.apply(squeezed, ctx));
    return tf.add(tf.mul(feat, attention), feat);
  }
}

/** `BiSeNetOutput(in, mid, classes)`: ConvBNReLU 3x3 in→mid (`.conv`), 1x1 to classes without bias (`.conv_out`). */
export function outputHead(prefix: string, cin: number, mid: number, classes: number): Module {
  return new Sequential([
    convBnRelu(`${prefix}.conv`, cin, mid, 3, 1, 1),
    kaimingConv(`${prefix}.conv_out`, mid, classes, 1),
  ]);
}

/** Logits at the input size, NHWC `[N, H, W, classes]`; the auxiliary ones in training only. */
export interface BiSeNetOutput {
  readonly main: Tensor4D;
  /** The auxiliary head on the stride-8 context feature (`conv_out16`). */
  readonly aux8?: Tensor4D;
  /** The auxiliary head on the stride-16 context feature (`conv_out32`). */
  readonly aux16?: Tensor4D;
}

/** BiSeNet's head: context path on the taps, spatial path on the image, fusion and outputs. */
export class BiSeNetHead {
  readonly params: readonly ParamInfo[];
  /** The auxiliary heads' parameters (`conv_out16.*`, `conv_out32.*`): training only. */
  readonly auxiliaryParams: readonly ParamInfo[];
  readonly contextPath: ContextPath;
  private readonly spatial: Module;
  private readonly ffm: FeatureFusion;
  private readonly out: Module;
  private readonly out8: Module;
  private readonly out16: Module;

  /**
   * @param tapChannels channels of the stride-16 and stride-32 taps.
   * @param classes output classes.
   * @param inChannels image channels (the spatial path's input).
   */
  constructor(
    readonly tapChannels: readonly [number, number],
    readonly classes: number,
    readonly inChannels = 3,
  ) {
    this.contextPath = new ContextPath(tapChannels[0], tapChannels[1]);
    this.spatial = spatialPath(inChannels);
    this.ffm = new FeatureFusion(SPATIAL_CHANNELS + CONTEXT_CHANNELS, FUSION_CHANNELS);
    this.out = outputHead('conv_out', FUSION_CHANNELS, FUSION_CHANNELS, classes);
    this.out8 = outputHead('conv_out16', CONTEXT_CHANNELS, 64, classes);
    this.out16 = outputHead('conv_out32', CONTEXT_CHANNELS, 64, classes);
    this.auxiliaryParams = [...this.out8.params, ...this.out16.params];
    this.params = [
      ...this.contextPath.params,
      ...this.spatial.params,
      ...this.ffm.params,
      ...this.out.params,
      ...this.auxiliaryParams,
    ];
  }

  /** The head's multiply-adds per image (inference: auxiliary heads excluded); throws when the input cannot pass. */
  trace(
    input: Shape3,
    tap16: Shape3,
    tap32: Shape3,
  ): { readonly macs: number; readonly auxiliaryMacs: number } {
    const cp = this.contextPath.trace(tap16, tap32);
    const sp = this.spatial.trace(input);
    const fused = this.ffm.trace(sp.shape, cp.cp8);
    const out = this.out.trace(fused.shape);
    // Bilinear upsampling to the input is not counted: multiply-adds are the convolutions'.
    return {
      macs: cp.macs + sp.macs + fused.macs + out.macs,
      auxiliaryMacs: this.out8.trace(cp.cp8).macs + this.out16.trace(cp.cp16).macs,
    };
  }

  /** The head's logits at the image's size, inside the caller's tidy. */
  apply(image: Tensor4D, tap16: Tensor4D, tap32: Tensor4D, ctx: ForwardContext): BiSeNetOutput {
    const [, h, w] = image.shape;
    const { cp8, cp16 } = this.contextPath.apply(tap16, tap32, ctx);
    const sp = this.spatial.apply(image, ctx);
    const fused = this.ffm.apply(sp, cp8, ctx);
    const up = (x: Tensor4D) => tf.image.resizeBilinear(x, [h, w], true);
    const main = up(this.out.apply(fused, ctx));
    if (!ctx.training) return { main };
    return { main, aux8: up(this.out8.apply(cp8, ctx)), aux16: up(this.out16.apply(cp16, ctx)) };
  }
}
