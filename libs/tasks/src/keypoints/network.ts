// SimpleBaseline on the DARTS-family ImageNet-variant backbone (DENSE.md sections 1 and 4): the
// backbone (a libs/nas Network without its classifier, under the reference PoseNet's `backbone.`),
// the deconvolution head on its stride-32 tap, the flip test and the decode to the serving record
// (per keypoint x, y in pixels of the input crop and the heatmap maximum).
import { tf, type Tensor4D } from '@rnas/engine';
import {
  countParams,
  forwardContext,
  Network,
  type ForwardOptions,
  type ParamInfo,
  type ParamMap,
  type Shape3,
} from '@rnas/nas';
import type { TaskModelSpec, TaskNetwork } from '../task';
import { checkBackboneSpec } from '../backbone';
import { HEATMAP_STRIDE, MAX_KEYPOINTS, resolveKeypointConfig, type KeypointConfig } from './config';
import { decodeHeatmaps, KEYPOINT_VALUES } from './decode';
import { SimpleBaselineHead } from './simplebaseline';

/** The reference PoseNet's attribute for its backbone: every backbone parameter's name starts with it. */
export const KEYPOINT_BACKBONE_PREFIX = 'backbone.';

export function isKeypointBackboneParam(name: string): boolean {
  return name.startsWith(KEYPOINT_BACKBONE_PREFIX);
}

/**
 * Channel order of mirrored heatmaps: the left/right `pairs` swapped, every other keypoint kept
 * (the reference's `flip_back`).
 */
export function flipPermutation(keypoints: number, pairs: readonly (readonly [number, number])[]): number[] {
  const order = Array.from({ length: keypoints }, (_, i) => i);
  for (const [a, b] of pairs) {
    if (!(a >= 0 && a < keypoints && b >= 0 && b < keypoints && a !== b)) {
      throw new Error(`keypoints.flipPairs: expected distinct indices below ${keypoints}, got [${a}, ${b}]`);
    }
    order[a] = b;
    order[b] = a;
  }
  return order;
}

/** A pose estimator: `forward(params, x)` gives heatmaps, `infer` the serving records. */
export class KeypointNetwork implements TaskNetwork {
  /** The spec with its keypoint config resolved (every field set). */
  readonly spec: TaskModelSpec & { readonly keypoints: KeypointConfig };
  readonly config: KeypointConfig;
  readonly backbone: Network;
  readonly backbonePrefix = KEYPOINT_BACKBONE_PREFIX;
  readonly head: SimpleBaselineHead;
  readonly params: readonly ParamInfo[];
  /** Keypoints (heatmaps) per person. */
  readonly classes: number;
  readonly outputSize: number;
  /** `[H/4, W/4, K]` at the configured crop. */
  readonly heatmapShape: Shape3;
  /** Multiply-adds per image at the configured crop (backbone and head; the flip test doubles them). */
  readonly macs: number;
  private readonly flipOrder: number[];

  constructor(spec: TaskModelSpec) {
    if (spec.task !== 'keypoints') {
      throw new Error(`keypoints: the model spec's task is '${String(spec.task)}', expected 'keypoints'`);
    }
    const config = resolveKeypointConfig(spec.keypoints ?? {});
    const net = spec.network;
    checkBackboneSpec(net, 'keypoints');
    const k = net.classes;
    if (!Number.isInteger(k) || k < 1 || k > MAX_KEYPOINTS) {
      throw new Error(
        `keypoints: network.classes (the keypoints) must be in [1, ${MAX_KEYPOINTS}], got ${k}`,
      );
    }
    if (config.keypointNames.length > 0 && config.keypointNames.length !== k) {
      throw new Error(
        `keypoints: network.classes is ${k}, keypoints.keypointNames names ${config.keypointNames.length} keypoints`,
      );
    }
    if (config.oksSigmas.length > 0 && config.oksSigmas.length !== k) {
      throw new Error(
        `keypoints: network.classes is ${k}, keypoints.oksSigmas has ${config.oksSigmas.length}`,
      );
    }
    this.flipOrder = flipPermutation(k, config.flipPairs);
    this.backbone = new Network(net, { classifier: false, paramPrefix: KEYPOINT_BACKBONE_PREFIX });
    this.config = config;
    this.spec = { ...spec, keypoints: config };
    this.classes = k;
    this.outputSize = k * KEYPOINT_VALUES;
    const { inputHeight: h, inputWidth: w } = config;
    const backbone = this.backbone.trace(h, w);
    const tap32 = backbone.tapShapes[backbone.tapShapes.length - 1];
    this.head = new SimpleBaselineHead(tap32[2], k);
    const head = this.head.trace(tap32);
    if (head.shape[0] * HEATMAP_STRIDE !== h || head.shape[1] * HEATMAP_STRIDE !== w) {
      throw new Error(
        `keypoints: a ${h}x${w} crop gives ${head.shape[0]}x${head.shape[1]} heatmaps, expected a quarter of it`,
      );
    }
    this.heatmapShape = head.shape;
    this.macs = backbone.macs + head.macs;
    this.params = [...this.backbone.params, ...this.head.params];
  }

  /** Trainable parameters: backbone and head, batch-norm γ and β included, running statistics not. */
  countParams(): number {
    return countParams(this.params);
  }

  /** Names of the backbone's trainable parameters (the head's train at `headLrScale` times their rate). */
  backboneParamNames(): string[] {
    return this.params
      .filter((p) => p.kind === 'weight' && isKeypointBackboneParam(p.name))
      .map((p) => p.name);
  }

  /** The network takes person crops of its configured size: the heatmap coordinates assume it. */
  checkInput(height: number, width: number): void {
    const { inputHeight: h, inputWidth: w } = this.config;
    if (height !== h || width !== w) {
      throw new Error(
        `keypoints: input is ${height}x${width}, this network takes ${h}x${w} (keypoints.inputHeight x inputWidth)`,
      );
    }
  }

  /**
   * Heatmaps `[N, H/4, W/4, K]` of a batch of crops: the caller owns them, every other tensor is
   * freed. Training mode reports every batch norm's moments, backbone and head alike.
   */
  forward(params: ParamMap, input: Tensor4D, options: ForwardOptions = {}): Tensor4D {
    this.checkInput(input.shape[1], input.shape[2]);
    const ctx = forwardContext(params, options);
    return tf.tidy(() => {
      const taps = this.backbone.taps(params, input, options);
      const tap32 = taps[taps.length - 1];
      return this.head.apply(tap32, ctx);
    });
  }

  /**
   * Inference heatmaps; with `config.flipTest` averaged with those of the mirrored crops, mirrored
   * back, left/right channels swapped and shifted one column right (the reference's
   * SHIFT_HEATMAP: its mirrored features sit one pixel off). The caller owns the result.
   */
  inferHeatmaps(params: ParamMap, input: Tensor4D): Tensor4D {
    if (!this.config.flipTest) return this.forward(params, input);
    this.checkInput(input.shape[1], input.shape[2]);
    return tf.tidy(() => {
      const heatmaps = this.forward(params, input);
      const flipped = this.forward(params, tf.reverse(input, 2));
      const back = tf.gather(tf.reverse(flipped, 2), this.flipOrder, 3);
      const [n, h, w, k] = back.shape;
      const shifted =
        w > 1
          ? tf.concat(
              [tf.slice(back, [0, 0, 0, 0], [n, h, 1, k]), tf.slice(back, [0, 0, 0, 0], [n, h, w - 1, k])],
              2,
            )
          : back;
      return tf.mul(tf.add(heatmaps, shifted), 0.5) as Tensor4D;
    });
  }

  /** Keypoints of heatmaps (`decodeHeatmaps`) in input-crop pixels: `n · outputSize` values. */
  decode(heatmaps: Tensor4D): Float32Array {
    const [n, h, w, k] = heatmaps.shape;
    return decodeHeatmaps(heatmaps.dataSync() as Float32Array, [n, h, w, k], HEATMAP_STRIDE);
  }

  /** Serving records: per image and keypoint x, y (input-crop pixels) and score. Frees what it makes. */
  infer(params: ParamMap, input: Tensor4D): Float32Array {
    const heatmaps = this.inferHeatmaps(params, input);
    try {
      return this.decode(heatmaps);
    } finally {
      heatmaps.dispose();
    }
  }
}
