// SSDLite's head on a backbone's stride-16 and stride-32 taps (`ssd_mobile.py`, `ops.py`,
// `trainer.py`; DENSE.md section 2, "Model"): four InvertedResidual extras that halve the map each,
// and per map a box-regression and a classification predictor. Parameters under the reference's
// module names: `extras.{i}.conv.*`, `classification_headers.{i}.*`, `regression_headers.{i}.*`.
import { tf, type Tensor1D, type Tensor3D, type Tensor4D } from '@rnas/engine';
import {
  BatchNorm,
  Conv,
  Depthwise,
  Sequential,
  type ForwardContext,
  type Module,
  type ParamInfo,
  type Shape3,
  type Trace,
} from '@rnas/nas';

/** The extras' output channels and expansion ratios (`ssd_mobile.py`); the first reads the stride-32 tap. */
export const EXTRAS: readonly { readonly out: number; readonly expand: number }[] = [
  { out: 512, expand: 0.2 },
  { out: 256, expand: 0.25 },
  { out: 256, expand: 0.5 },
  { out: 64, expand: 0.25 },
];

/** ReLU6, the activation of MobileNetV2's blocks and of SSDLite's predictors. */
class Relu6 implements Module {
  readonly params: readonly ParamInfo[] = [];
  trace(input: Shape3): Trace {
    return { shape: input, macs: 0, activations: input[0] * input[1] * input[2] };
  }
  apply(x: Tensor4D): Tensor4D {
    return tf.relu6(x);
  }
}

/** The bias of a convolution (`{name}.bias`), initialised as PyTorch does: uniform in ±1/√fan_in. */
class Bias implements Module {
  readonly params: readonly ParamInfo[];
  constructor(
    readonly name: string,
    readonly c: number,
    fanIn: number,
  ) {
    const bound = 1 / Math.sqrt(fanIn);
    this.params = [
      {
        name: `${name}.bias`,
        kind: 'weight',
        layout: 'vector',
        shape: [c],
        refShape: [c],
        init: { kind: 'uniform', bound },
      },
    ];
  }
  trace(input: Shape3): Trace {
    return { shape: input, macs: 0, activations: input[0] * input[1] * input[2] };
  }
  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    return tf.add(x, ctx.param(this.params[0].name) as Tensor1D);
  }
}

/** A 1x1 convolution with bias (`nn.Conv2d(in, out, 1)`). */
function pointwiseWithBias(name: string, cin: number, cout: number): Module {
  return new Sequential([new Conv(name, cin, cout, [1, 1], [1, 1], [0, 0]), new Bias(name, cout, cin)]);
}

/**
 * `InvertedResidual(in, out, stride 2, t)` of `ops.py` without its residual (stride 2 never has
 * one): 1x1 conv to round(in·t), BN, ReLU6; depthwise 3x3 stride 2 pad 1, BN, ReLU6; 1x1 conv, BN.
 * All convolutions without bias.
 */
export function invertedResidual(prefix: string, cin: number, cout: number, expand: number): Module {
  // Python's round(): in·t is never a half here (0.2·in for the first extra, fixed widths after),
  // so Math.round agrees.
  const hidden = Math.round(cin * expand);
  if (hidden < 1) throw new Error(`${prefix}: ${cin} channels expanded by ${expand} leave none`);
  return new Sequential([
    new Conv(`${prefix}.conv.0.0`, cin, hidden, [1, 1], [1, 1], [0, 0]),
    new BatchNorm(`${prefix}.conv.0.1`, hidden),
    new Relu6(),
    new Depthwise(`${prefix}.conv.1.0`, hidden, 3, 2, 1, 1),
    new BatchNorm(`${prefix}.conv.1.1`, hidden),
    new Relu6(),
    new Conv(`${prefix}.conv.2`, hidden, cout, [1, 1], [1, 1], [0, 0]),
    new BatchNorm(`${prefix}.conv.3`, cout),
  ]);
}

/**
 * `SeperableConv2d(in, out, 3, padding 1)` of `ops.py`: depthwise 3x3 with bias, BN, ReLU6, then
 * a 1x1 conv with bias (indices 0, 1, 3 of its Sequential).
 */
export function separablePredictor(prefix: string, cin: number, cout: number): Module {
  return new Sequential([
    new Depthwise(`${prefix}.0`, cin, 3, 1, 1, 1),
    new Bias(`${prefix}.0`, cin, 9),
    new BatchNorm(`${prefix}.1`, cin),
    new Relu6(),
    pointwiseWithBias(`${prefix}.3`, cin, cout),
  ]);
}

/** Training-mode or inference outputs of the head, priors in `priorBoxes` order. */
export interface HeadOutput {
  /** `[N, P, 4]` box regressions (encoded as `encodeBoxes`). */
  readonly locations: Tensor3D;
  /** `[N, P, classes + 1]` logits, background first. */
  readonly confidences: Tensor3D;
}

/** The extras and predictors of SSDLite over a backbone's stride-16 and stride-32 taps. */
export class SsdLiteHead {
  readonly params: readonly ParamInfo[];
  private readonly extras: readonly Module[];
  private readonly classification: readonly Module[];
  private readonly regression: readonly Module[];

  /**
   * @param tapChannels channels of the stride-16 and stride-32 taps.
   * @param labels predicted labels per prior: the object classes and background.
   * @param perLocation priors per map location.
   */
  constructor(
    readonly tapChannels: readonly [number, number],
    readonly labels: number,
    readonly perLocation: number,
  ) {
    let cin = tapChannels[1];
    this.extras = EXTRAS.map(({ out, expand }, i) => {
      const extra = invertedResidual(`extras.${i}`, cin, out, expand);
      cin = out;
      return extra;
    });
    const mapChannels = [...tapChannels, ...EXTRAS.map((e) => e.out)];
    const last = mapChannels.length - 1;
    const predictor = (prefix: string, c: number, i: number, cout: number) =>
      i === last
        ? pointwiseWithBias(`${prefix}.${i}`, c, cout)
        : separablePredictor(`${prefix}.${i}`, c, cout);
    this.classification = mapChannels.map((c, i) =>
      predictor('classification_headers', c, i, perLocation * labels),
    );
    this.regression = mapChannels.map((c, i) => predictor('regression_headers', c, i, perLocation * 4));
    this.params = [...this.extras, ...this.classification, ...this.regression].flatMap((m) => m.params);
  }

  /** The six maps' shapes and the head's multiply-adds per image; throws when the taps cannot pass. */
  trace(tap16: Shape3, tap32: Shape3): { readonly maps: readonly Shape3[]; readonly macs: number } {
    const maps: Shape3[] = [tap16, tap32];
    let macs = 0;
    for (const extra of this.extras) {
      const t = extra.trace(maps[maps.length - 1]);
      macs += t.macs;
      maps.push(t.shape);
    }
    maps.forEach((shape, i) => {
      macs += this.classification[i].trace(shape).macs + this.regression[i].trace(shape).macs;
    });
    return { maps, macs };
  }

  /** The head's outputs, inside the caller's tidy. */
  apply(tap16: Tensor4D, tap32: Tensor4D, ctx: ForwardContext): HeadOutput {
    const features = [tap16, tap32];
    for (const extra of this.extras) features.push(extra.apply(features[features.length - 1], ctx));
    const locations: Tensor3D[] = [];
    const confidences: Tensor3D[] = [];
    features.forEach((f, i) => {
      const [n, h, w] = f.shape;
      const priors = h * w * this.perLocation;
      // NHWC flattened: prior (y·W + x)·perLocation + j reads channels j·labels .. (j+1)·labels − 1.
      confidences.push(tf.reshape(this.classification[i].apply(f, ctx), [n, priors, this.labels]));
      locations.push(tf.reshape(this.regression[i].apply(f, ctx), [n, priors, 4]));
    });
    return { locations: tf.concat(locations, 1), confidences: tf.concat(confidences, 1) };
  }
}
