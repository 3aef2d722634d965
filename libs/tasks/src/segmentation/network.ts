// BiSeNet on the DARTS-family ImageNet-variant backbone (DENSE.md sections 1 and 3): the backbone
// (a libs/nas Network without its classifier, under `backbone.`; the reference's `cp.net`), the
// head on its stride-16 and stride-32 taps, and inference down to the serving record (per pixel,
// the argmax class as a float, at the network's input size).
import { tf, type Tensor4D } from '@rnas/engine';
import {
  countParams,
  forwardContext,
  Network,
  type ForwardOptions,
  type ParamInfo,
  type ParamMap,
} from '@rnas/nas';
import type { TaskModelSpec, TaskNetwork } from '../task';
import { checkBackboneSpec } from '../backbone';
import { BiSeNetHead, type BiSeNetOutput } from './bisenet';
import { MAX_SEGMENTATION_CLASSES, resolveSegmentationConfig, type SegmentationConfig } from './config';

/** Every backbone parameter's name starts with it. */
export const SEGMENTATION_BACKBONE_PREFIX = 'backbone.';

/** Whether a segmentation network's parameter belongs to its backbone (not to BiSeNet's head). */
export function isBackboneParam(name: string): boolean {
  return name.startsWith(SEGMENTATION_BACKBONE_PREFIX);
}

/** A BiSeNet: `forward(params, x)` gives logits at the input size, `infer` the label maps. */
export class SegmentationNetwork implements TaskNetwork {
  /** The spec with its segmentation config resolved (every field set). */
  readonly spec: TaskModelSpec & { readonly segmentation: SegmentationConfig };
  readonly config: SegmentationConfig;
  readonly backbone: Network;
  readonly backbonePrefix = SEGMENTATION_BACKBONE_PREFIX;
  readonly head: BiSeNetHead;
  /** Backbone, then the head; the auxiliary heads' parameters included (they train). */
  readonly params: readonly ParamInfo[];
  /** Classes predicted per pixel. */
  readonly classes: number;
  /** One label per pixel of the input. */
  readonly outputSize: number;
  /** Multiply-adds per image at the configured input (backbone and head, auxiliary heads excluded). */
  readonly macs: number;

  constructor(spec: TaskModelSpec) {
    if (spec.task !== 'segmentation') {
      throw new Error(
        `segmentation: the model spec's task is '${String(spec.task)}', expected 'segmentation'`,
      );
    }
    const config = resolveSegmentationConfig(spec.segmentation ?? {});
    const net = spec.network;
    checkBackboneSpec(net, 'segmentation');
    if (!Number.isSafeInteger(net.classes) || net.classes < 2 || net.classes > MAX_SEGMENTATION_CLASSES) {
      throw new Error(
        `segmentation: network.classes must be an integer in [2, ${MAX_SEGMENTATION_CLASSES}] (background included; labels are bytes, 255 is ignored), got ${String(net.classes)}`,
      );
    }
    this.backbone = new Network(net, { classifier: false, paramPrefix: SEGMENTATION_BACKBONE_PREFIX });
    this.config = config;
    this.spec = { ...spec, segmentation: config };
    this.classes = net.classes;
    const { inputHeight: h, inputWidth: w } = config;
    this.outputSize = h * w;
    const backbone = this.backbone.trace(h, w);
    const [, tap16, tap32] = backbone.tapShapes;
    this.checkTaps(h, w, tap16, tap32);
    this.head = new BiSeNetHead([tap16[2], tap32[2]], net.classes, net.inChannels);
    this.macs = backbone.macs + this.head.trace([h, w, net.inChannels], tap16, tap32).macs;
    this.params = [...this.backbone.params, ...this.head.params];
  }

  /** The context path assumes strides 16 and 32 (its stride-8 feature is twice the stride-16 one's size). */
  private checkTaps(h: number, w: number, tap16: readonly number[], tap32: readonly number[]): void {
    if (tap16[0] * 16 !== h || tap16[1] * 16 !== w || tap32[0] * 32 !== h || tap32[1] * 32 !== w) {
      throw new Error(
        `segmentation: the backbone's taps at ${h}x${w} are ${tap16[0]}x${tap16[1]} and ${tap32[0]}x${tap32[1]}, expected strides 16 and 32`,
      );
    }
  }

  /** Trainable parameters of the inference network (the auxiliary heads excluded, unless asked). */
  countParams(options: { auxiliary?: boolean } = {}): number {
    if (options.auxiliary ?? false) return countParams(this.params);
    const aux = new Set(this.head.auxiliaryParams.map((p) => p.name));
    return countParams(this.params.filter((p) => !aux.has(p.name)));
  }

  /** Names of the backbone's trainable parameters. */
  backboneParamNames(): string[] {
    return this.params.filter((p) => p.kind === 'weight' && isBackboneParam(p.name)).map((p) => p.name);
  }

  /** The network takes inputs of its configured size (a multiple of 32: serving resizes to it). */
  checkInput(height: number, width: number): void {
    const { inputHeight, inputWidth } = this.config;
    if (height !== inputHeight || width !== inputWidth) {
      throw new Error(
        `segmentation: input is ${height}x${width}, this network takes ${inputHeight}x${inputWidth} (segmentation.inputHeight x inputWidth)`,
      );
    }
  }

  /**
   * Logits NHWC `[N, H, W, classes]` at the input size (the auxiliary heads' in training mode
   * only): the caller owns them, every other tensor is freed. Training mode reports every batch
   * norm's moments, backbone and head alike.
   */
  forward(params: ParamMap, input: Tensor4D, options: ForwardOptions = {}): BiSeNetOutput {
    this.checkInput(input.shape[1], input.shape[2]);
    const ctx = forwardContext(params, options);
    const outputs = tf.tidy(() => {
      const [stride8, tap16, tap32] = this.backbone.taps(params, input, options);
      stride8.dispose();
      const out = this.head.apply(input, tap16, tap32, ctx);
      return out.aux8 === undefined || out.aux16 === undefined ? [out.main] : [out.main, out.aux8, out.aux16];
    });
    const [main, aux8, aux16] = outputs;
    return aux8 === undefined ? { main } : { main, aux8, aux16 };
  }

  /** Per image, `H·W` values: each pixel's argmax class (row-major); frees every tensor it makes. */
  infer(params: ParamMap, input: Tensor4D): Float32Array {
    const { main } = this.forward(params, input);
    try {
      return labelMap(main);
    } finally {
      main.dispose();
    }
  }
}

/** Each pixel's argmax class of NHWC logits, as floats; the caller keeps the logits. */
export function labelMap(logits: Tensor4D): Float32Array {
  return tf.tidy(() => tf.cast(tf.argMax(logits, 3), 'float32').dataSync() as Float32Array);
}
