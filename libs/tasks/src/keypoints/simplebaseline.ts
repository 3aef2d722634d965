// SimpleBaseline's head (Xiao et al. 2018; `posenet.py`, DENSE.md section 4, "Model") on a
// backbone's stride-32 tap: three 4x4 stride-2 transposed convolutions of 256 channels without
// bias, each with BN and ReLU, then a 1x1 conv with bias to one heatmap per keypoint, at a quarter
// of the input. Parameters under the reference's module names: `deconv_layers.{0,1,3,4,6,7}.*`
// and `final_layer.*`; the deconvolutions and the final conv drawn from N(0, 0.001), biases 0.
import { tf, type Tensor1D, type Tensor4D } from '@rnas/engine';
import {
  BatchNorm,
  Sequential,
  type ForwardContext,
  type Module,
  type ParamInfo,
  type Shape3,
  type Trace,
} from '@rnas/nas';

/** The reference's NUM_DECONV_FILTERS, NUM_DECONV_KERNELS and NUM_DECONV_LAYERS. */
export const DECONV_CHANNELS = 256;
export const DECONV_KERNEL = 4;
export const DECONV_LAYERS = 3;
/** `init_weights`: `normal_(std=0.001)` for the deconvolutions and the final conv. */
export const HEAD_INIT_STD = 0.001;

/** ReLU after each deconvolution's BN. */
class Relu implements Module {
  readonly params: readonly ParamInfo[] = [];
  trace(input: Shape3): Trace {
    return { shape: input, macs: 0, activations: input[0] * input[1] * input[2] };
  }
  apply(x: Tensor4D): Tensor4D {
    return tf.relu(x);
  }
}

/**
 * `ConvTranspose2d(in, out, 4, stride 2, padding 1, output_padding 0, bias=False)`: doubles the
 * map. TF.js's 'same' transposed convolution to [2H, 2W] pads one on each side, as padding 1
 * does. The weight is stored [in, out, k, k] by the reference and [k, k, out, in] here, the same
 * permutation as a convolution's (no kernel flip: both are the adjoint of the same convolution).
 */
export class Deconv implements Module {
  readonly params: readonly ParamInfo[];
  constructor(
    readonly name: string,
    readonly cin: number,
    readonly cout: number,
  ) {
    const k = DECONV_KERNEL;
    this.params = [
      {
        name: `${name}.weight`,
        kind: 'weight',
        layout: 'conv',
        shape: [k, k, cout, cin],
        refShape: [cin, cout, k, k],
        init: { kind: 'normal', std: HEAD_INIT_STD },
      },
    ];
  }
  trace(input: Shape3): Trace {
    if (input[2] !== this.cin) {
      throw new Error(`${this.name}: expects ${this.cin} input channels, got ${input[2]}`);
    }
    const shape: Shape3 = [input[0] * 2, input[1] * 2, this.cout];
    // Every input value meets every 4x4 tap of every output channel.
    const macs = input[0] * input[1] * this.cin * this.cout * DECONV_KERNEL * DECONV_KERNEL;
    return { shape, macs, activations: shape[0] * shape[1] * shape[2] };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const [n, h, w] = x.shape;
    const filter = ctx.param(this.params[0].name) as Tensor4D;
    return tf.conv2dTranspose(x, filter, [n, 2 * h, 2 * w, this.cout], 2, 'same');
  }
}

/** `final_layer`: `Conv2d(256, K, 1)` with bias, initialised N(0, 0.001) and 0. */
export class FinalLayer implements Module {
  readonly params: readonly ParamInfo[];
  constructor(
    readonly name: string,
    readonly cin: number,
    readonly cout: number,
  ) {
    this.params = [
      {
        name: `${name}.weight`,
        kind: 'weight',
        layout: 'conv',
        shape: [1, 1, cin, cout],
        refShape: [cout, cin, 1, 1],
        init: { kind: 'normal', std: HEAD_INIT_STD },
      },
      {
        name: `${name}.bias`,
        kind: 'weight',
        layout: 'vector',
        shape: [cout],
        refShape: [cout],
        init: { kind: 'constant', value: 0 },
      },
    ];
  }
  trace(input: Shape3): Trace {
    if (input[2] !== this.cin) {
      throw new Error(`${this.name}: expects ${this.cin} input channels, got ${input[2]}`);
    }
    const shape: Shape3 = [input[0], input[1], this.cout];
    return {
      shape,
      macs: input[0] * input[1] * this.cin * this.cout,
      activations: shape[0] * shape[1] * shape[2],
    };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const [n, h, w] = x.shape;
    // A matrix product: fast forward and backward on every backend (see libs/nas Conv).
    const y = tf.matMul(
      tf.reshape(x, [n * h * w, this.cin]),
      tf.reshape(ctx.param(this.params[0].name), [this.cin, this.cout]),
    );
    return tf.add(
      tf.reshape(y, [n, h, w, this.cout]),
      ctx.param(this.params[1].name) as Tensor1D,
    ) as Tensor4D;
  }
}

/** The deconvolution stack and final layer of SimpleBaseline over a backbone's stride-32 tap. */
export class SimpleBaselineHead {
  readonly params: readonly ParamInfo[];
  private readonly layers: Module;

  /**
   * @param tapChannels channels of the stride-32 tap (16C).
   * @param keypoints heatmaps (joints) to predict.
   */
  constructor(
    readonly tapChannels: number,
    readonly keypoints: number,
  ) {
    if (!Number.isInteger(keypoints) || keypoints < 1) {
      throw new Error(`keypoints: the head needs at least one keypoint, got ${keypoints}`);
    }
    const modules: Module[] = [];
    let cin = tapChannels;
    for (let i = 0; i < DECONV_LAYERS; i++) {
      modules.push(
        new Deconv(`deconv_layers.${3 * i}`, cin, DECONV_CHANNELS),
        new BatchNorm(`deconv_layers.${3 * i + 1}`, DECONV_CHANNELS),
        new Relu(),
      );
      cin = DECONV_CHANNELS;
    }
    modules.push(new FinalLayer('final_layer', cin, keypoints));
    this.layers = new Sequential(modules);
    this.params = this.layers.params;
  }

  /** The heatmaps' shape and the head's multiply-adds per image; throws when the tap cannot pass. */
  trace(tap32: Shape3): Trace {
    return this.layers.trace(tap32);
  }

  /** Heatmaps `[N, 8·h, 8·w, K]` of a `[N, h, w, 16C]` tap, inside the caller's tidy. */
  apply(tap32: Tensor4D, ctx: ForwardContext): Tensor4D {
    return this.layers.apply(tap32, ctx);
  }
}
