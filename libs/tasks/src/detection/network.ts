// SSDLite on the DARTS-family ImageNet-variant backbone (DENSE.md sections 1 and 2): the backbone
// (a libs/nas Network without its classifier, under the reference SSD's `base_net.`), the head,
// the priors of the configured input size, and inference down to the serving record.
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
import { resolveDetectionConfig, type DetectionConfig } from './config';
import { decodeDetections, resolveDecodeOptions, type DecodeOptions } from './decode';
import { priorBoxes, priorsPerLocation } from './priors';
import { DETECTION_RECORD_SIZE, writeDetectionRecord, type Detection } from './record';
import { SsdLiteHead, type HeadOutput } from './ssdlite';

/** The reference SSD's attribute for its backbone: every backbone parameter's name starts with it. */
export const BACKBONE_PREFIX = 'base_net.';

/** A detector: `forward(params, x)` gives the head's raw outputs, `infer` the serving records. */
export class DetectionNetwork implements TaskNetwork {
  /** The spec with its detection config resolved (every field set). */
  readonly spec: TaskModelSpec & { readonly detection: DetectionConfig };
  readonly config: DetectionConfig;
  readonly backbone: Network;
  readonly backbonePrefix = BACKBONE_PREFIX;
  readonly head: SsdLiteHead;
  readonly params: readonly ParamInfo[];
  readonly outputSize = DETECTION_RECORD_SIZE;
  /** Object classes (background excluded). */
  readonly classes: number;
  /** The six maps at the configured input: the two taps, then the extras. */
  readonly featureMaps: readonly Shape3[];
  /** Multiply-adds per image at the configured input (backbone and head). */
  readonly macs: number;
  private readonly priorTable: Float32Array;

  constructor(spec: TaskModelSpec) {
    if (spec.task !== 'detection') {
      throw new Error(`detection: the model spec's task is '${String(spec.task)}', expected 'detection'`);
    }
    const config = resolveDetectionConfig(spec.detection ?? {});
    const net = spec.network;
    checkBackboneSpec(net, 'detection');
    this.backbone = new Network(net, { classifier: false, paramPrefix: BACKBONE_PREFIX });
    this.config = config;
    this.spec = { ...spec, detection: config };
    this.classes = net.classes;
    const size = config.inputSize;
    const taps = this.backbone.trace(size, size).tapShapes;
    this.head = new SsdLiteHead([taps[1][2], taps[2][2]], net.classes + 1, priorsPerLocation(config));
    const head = this.head.trace(taps[1], taps[2]);
    this.featureMaps = head.maps;
    this.macs = this.backbone.trace(size, size).macs + head.macs;
    this.priorTable = priorBoxes(
      config,
      head.maps.map((m) => m[0]),
    );
    this.params = [...this.backbone.params, ...this.head.params];
  }

  /** Trainable parameters: backbone and head, batch-norm γ and β included, running statistics not. */
  countParams(): number {
    return countParams(this.params);
  }

  /** Names of the backbone's trainable parameters (to freeze it, or scale its learning rate). */
  backboneParamNames(): string[] {
    return this.params.filter((p) => p.kind === 'weight' && isBackboneParam(p.name)).map((p) => p.name);
  }

  /** `[P, 4]` centre-form priors of the configured input, in the head's output order. */
  priors(): Float32Array {
    return this.priorTable;
  }

  /** The detector takes square inputs of its configured size: its priors are laid out for it. */
  checkInput(height: number, width: number): void {
    const s = this.config.inputSize;
    if (height !== s || width !== s) {
      throw new Error(
        `detection: input is ${height}x${width}, this detector takes ${s}x${s} (detection.inputSize)`,
      );
    }
  }

  /**
   * The head's outputs on a batch (logits, not probabilities): the caller owns them, every other
   * tensor is freed. Training mode reports every batch norm's moments, backbone and head alike.
   */
  forward(params: ParamMap, input: Tensor4D, options: ForwardOptions = {}): HeadOutput {
    this.checkInput(input.shape[1], input.shape[2]);
    const ctx = forwardContext(params, options);
    const [locations, confidences] = tf.tidy(() => {
      const [stride8, tap16, tap32] = this.backbone.taps(params, input, options);
      stride8.dispose();
      const out = this.head.apply(tap16, tap32, ctx);
      return [out.locations, out.confidences];
    });
    return { locations, confidences } as HeadOutput;
  }

  /** Serving records (`record.ts`), `outputSize` values per image; frees every tensor it makes. */
  infer(params: ParamMap, input: Tensor4D, options: DecodeOptions = {}): Float32Array {
    const output = this.forward(params, input);
    let found: Detection[][];
    try {
      found = this.detections(output, options);
    } finally {
      tf.dispose([output.locations, output.confidences]);
    }
    const out = new Float32Array(found.length * DETECTION_RECORD_SIZE);
    found.forEach((detections, i) => writeDetectionRecord(detections, out, i));
    return out;
  }

  /**
   * Each image's detections from a batch's head outputs (softmax, decoding against the priors,
   * per-class NMS): what `infer` records and what evaluation scores. The caller keeps the outputs.
   */
  detections(output: HeadOutput, options: DecodeOptions = {}): Detection[][] {
    const decode = resolveDecodeOptions(options);
    const boxes = output.locations.dataSync() as Float32Array;
    const probabilities = tf.tidy(() => tf.softmax(output.confidences).dataSync() as Float32Array);
    const [n, p, k] = output.confidences.shape;
    return Array.from({ length: n }, (_, i) =>
      decodeDetections(
        probabilities.subarray(i * p * k, (i + 1) * p * k),
        boxes.subarray(i * p * 4, (i + 1) * p * 4),
        this.priorTable,
        decode,
      ),
    );
  }
}

export function isBackboneParam(name: string): boolean {
  return name.startsWith(BACKBONE_PREFIX);
}
