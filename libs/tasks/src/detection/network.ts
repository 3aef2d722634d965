// SSDLite on the DARTS-family ImageNet-variant backbone (DENSE.md sections 1 and 2): the backbone
// (a libs/nas Network without its classifier, under the reference SSD's `base_net.`), the head,
// the priors of the configured input size, and inference down to the serving record.
import { tf, type HostTensor, type Tensor4D } from '@rnas/engine';
import {
  countParams,
  forwardContext,
  genotypesEqual,
  importParams,
  Network,
  type ForwardOptions,
  type NetworkSpec,
  type ParamInfo,
  type ParamMap,
  type Shape3,
} from '@rnas/nas';
import type { TaskModelSpec, TaskNetwork } from '../task';
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
    if (net.variant !== 'imagenet') {
      throw new Error(
        `detection: network.variant must be 'imagenet' (stride-8 stem), got '${String(net.variant)}'`,
      );
    }
    if (net.auxiliary)
      throw new Error('detection: network.auxiliary must be false (a detector has no auxiliary head)');
    if (net.searchPrimitives !== undefined) {
      throw new Error(
        'detection: network.searchPrimitives must be unset (the backbone is an evaluation network)',
      );
    }
    if (!(net.layers >= 2)) {
      throw new Error(
        `detection: network.layers must be at least 2 (two reduction cells), got ${net.layers}`,
      );
    }
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

/** A classification model whose backbone seeds a detector's: its spec and its weights (reference layout). */
export interface BackboneSource {
  readonly spec: NetworkSpec;
  readonly weights: Readonly<Record<string, HostTensor>>;
}

/**
 * The detector's backbone parameters from a classification model, by name (`stem0.0.weight` →
 * `base_net.stem0.0.weight`); its classifier, auxiliary head and batch counters are dropped. The
 * model must be the same backbone: ImageNet variant, genotype, channels, layers, input channels;
 * otherwise, or when a tensor is missing or misshapen, a clear error naming `source`. The caller
 * owns the returned tensors (see `replaceParams`).
 */
export function importBackboneParams(
  network: DetectionNetwork,
  model: BackboneSource,
  source = 'backbone model',
): ParamMap {
  const mine = network.spec.network;
  const theirs = model.spec;
  const differs = (field: string, got: unknown, want: unknown) =>
    new Error(`${source}: ${field} is ${String(got)}, the detector's backbone has ${String(want)}`);
  if (theirs.variant !== 'imagenet') throw differs('variant', `'${theirs.variant}'`, "'imagenet'");
  for (const field of ['channels', 'layers', 'inChannels'] as const) {
    if (theirs[field] !== mine[field]) throw differs(field, theirs[field], mine[field]);
  }
  if (!genotypesEqual(theirs.genotype, mine.genotype)) {
    throw new Error(`${source}: its genotype differs from the detector's backbone`);
  }
  const renamed: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(model.weights)) {
    if (/^(classifier|auxiliary_head)\./.test(name) || name.endsWith('.num_batches_tracked')) continue;
    renamed[`${BACKBONE_PREFIX}${name}`] = tensor;
  }
  return importParams(network.backbone.params, renamed, source);
}

/** Puts `values` into `params`, disposing the tensors they replace; `values` is emptied. */
export function replaceParams(params: ParamMap, values: ParamMap): void {
  for (const [name, t] of values) {
    const old = params.get(name);
    if (old !== undefined && old !== t) old.dispose();
    params.set(name, t);
  }
  values.clear();
}
