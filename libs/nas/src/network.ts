import { tf, type Tensor, type Tensor2D, type Tensor4D } from '@rnas/engine';
import { derivedTensors, recordingGradients, sweepDerived } from './derived';
import { Cell } from './cell';
import { validateGenotype, type Genotype, type OpName } from './genotype';
import {
  AvgPool,
  BatchNorm,
  Conv,
  Linear,
  Relu,
  Sequential,
  type BatchStats,
  type DropPath,
  type ForwardContext,
  type Module,
  type Shape3,
} from './layers';
import { countParams, type ParamInfo, type ParamMap } from './params';

export type NetworkVariant = 'cifar' | 'imagenet';

/** Plain data that fixes a network's structure (design/RELATIVENAS.md section 4). */
export interface NetworkSpec {
  readonly variant: NetworkVariant;
  readonly genotype: Genotype;
  /** Initial channel count C. */
  readonly channels: number;
  /** Number of cells. */
  readonly layers: number;
  readonly classes: number;
  /** Image channels (3 for RGB). */
  readonly inChannels: number;
  /** Whether the network has the auxiliary head (used in training only). */
  readonly auxiliary: boolean;
  /**
   * Builds the search network's module identity (RELATIVENAS.md section 6; `CellConfig.
   * searchPrimitives`) over these candidate ops; unset for the evaluation network.
   */
  readonly searchPrimitives?: readonly OpName[];
}

export interface ForwardOptions {
  /** Training mode: batch statistics in batch norm, drop path, the auxiliary head. Default false. */
  readonly training?: boolean;
  readonly dropPath?: DropPath | null;
  /**
   * Training: trade compute for memory by recomputing each edge op's forward pass during
   * backpropagation (see `checkpointed`). Same results; default false.
   */
  readonly recompute?: boolean;
  /** Batch-norm epsilon; the reference's 1e-5 by default. */
  readonly bnEps?: number;
  /** Receives each batch norm's batch moments in training mode; keep what you hold on to. */
  readonly onBatchStats?: (name: string, stats: BatchStats) => void;
}

export interface ForwardResult {
  readonly logits: Tensor2D;
  /** The auxiliary head's logits: only in training mode with the head present. */
  readonly logitsAux: Tensor2D | null;
}

/** How a network is built, beyond its spec. */
export interface NetworkOptions {
  /**
   * Build the classifier and the auxiliary head (default true). Without them the network is a
   * backbone for a dense head: `taps` gives its features and `forward` is refused.
   */
  readonly classifier?: boolean;
  /** Put before every parameter name: a detector wraps its backbone as `base_net.` (default ''). */
  readonly paramPrefix?: string;
}

export interface NetworkTrace {
  /** Multiply-adds per image of the inference forward (convolutions and linear layers). */
  readonly macs: number;
  /** Multiply-adds per image of the auxiliary head alone (0 without one). */
  readonly auxiliaryMacs: number;
  /** Feature map after each cell. */
  readonly cellShapes: readonly Shape3[];
  /**
   * Values per image of the tensors a training forward makes (stems, cells, auxiliary head): what
   * a training step holds for its backward pass when it does not recompute.
   */
  readonly activations: number;
  /** What `taps` returns: the feature map before each reduction cell, then the last cell's. */
  readonly tapShapes: readonly Shape3[];
}

export const BN_EPS = 1e-5;

/** Index of the cell the auxiliary head reads (the second reduction cell). */
function auxiliaryCell(layers: number): number {
  return Math.floor((2 * layers) / 3);
}

/** Far beyond any real network, and small enough that counts stay exact in double precision. */
const LIMITS = {
  channels: 4096,
  layers: 1024,
  classes: 1_000_000,
  inChannels: 1024,
  'input height': 65536,
  'input width': 65536,
};

function checkPositiveInt(field: keyof typeof LIMITS, value: number): void {
  const max = LIMITS[field];
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new Error(`network spec: ${field} must be an integer in [1, ${max}], got ${String(value)}`);
  }
}

/**
 * The CIFAR or ImageNet network of a spec, as a function of a parameter map: it owns no tensors.
 * Parameter names and structure are those of the reference, so reference weights load as they are.
 */
export class Network {
  /** Every parameter and buffer, auxiliary head included when the spec has one. */
  readonly params: readonly ParamInfo[];
  private readonly stems: readonly Module[];
  readonly cells: readonly Cell[];
  private readonly auxFeatures: Module | null;
  private readonly auxClassifier: Linear | null;
  private readonly globalPool: AvgPool | null;
  private readonly classifier: Linear | null;
  private readonly auxIndex: number;
  /** The reduction cells, in order: a tap is the feature map each one reads as its s1. */
  private readonly reductionCells: readonly number[];
  private readonly prefix: string;
  private readonly traces = new Map<string, NetworkTrace>();

  constructor(
    readonly spec: NetworkSpec,
    options: NetworkOptions = {},
  ) {
    const { variant, genotype, channels: c, layers, classes, inChannels } = spec;
    const withClassifier = options.classifier ?? true;
    const auxiliary = spec.auxiliary && withClassifier;
    const p = options.paramPrefix ?? '';
    this.prefix = p;
    if (variant !== 'cifar' && variant !== 'imagenet') {
      throw new Error(`network spec: variant must be 'cifar' or 'imagenet', got '${String(variant)}'`);
    }
    validateGenotype(genotype, 'network spec: genotype');
    checkPositiveInt('channels', c);
    checkPositiveInt('layers', layers);
    checkPositiveInt('classes', classes);
    checkPositiveInt('inChannels', inChannels);
    if (variant === 'imagenet' && c % 2 !== 0) {
      throw new Error(`network spec: the ImageNet stem halves channels, which must be even, got ${c}`);
    }
    this.auxIndex = auxiliaryCell(layers);
    this.reductionCells = [...new Set([Math.floor(layers / 3), auxiliaryCell(layers)])];

    let cPrevPrev: number;
    let cPrev: number;
    let reductionPrev: boolean;
    if (variant === 'cifar') {
      const stemC = 3 * c;
      this.stems = [
        new Sequential([
          new Conv(`${p}stem.0`, inChannels, stemC, [3, 3], [1, 1], [1, 1]),
          new BatchNorm(`${p}stem.1`, stemC),
        ]),
      ];
      [cPrevPrev, cPrev, reductionPrev] = [stemC, stemC, false];
    } else {
      const half = c / 2;
      this.stems = [
        new Sequential([
          new Conv(`${p}stem0.0`, inChannels, half, [3, 3], [2, 2], [1, 1]),
          new BatchNorm(`${p}stem0.1`, half),
          new Relu(),
          new Conv(`${p}stem0.3`, half, c, [3, 3], [2, 2], [1, 1]),
          new BatchNorm(`${p}stem0.4`, c),
        ]),
        new Sequential([
          new Relu(),
          new Conv(`${p}stem1.1`, c, c, [3, 3], [2, 2], [1, 1]),
          new BatchNorm(`${p}stem1.2`, c),
        ]),
      ];
      [cPrevPrev, cPrev, reductionPrev] = [c, c, true];
    }

    const cells: Cell[] = [];
    let cCurr = c;
    let cAux = 0;
    for (let i = 0; i < layers; i++) {
      const reduction = i === Math.floor(layers / 3) || i === auxiliaryCell(layers);
      if (reduction) cCurr *= 2;
      const cell = new Cell({
        prefix: `${p}cells.${i}`,
        edges: reduction ? genotype.reduce : genotype.normal,
        concat: reduction ? genotype.reduceConcat : genotype.normalConcat,
        cPrevPrev,
        cPrev,
        c: cCurr,
        reduction,
        reductionPrev,
        searchPrimitives: this.spec.searchPrimitives,
      });
      cells.push(cell);
      [cPrevPrev, cPrev, reductionPrev] = [cPrev, cell.outChannels, reduction];
      if (i === this.auxIndex) cAux = cPrev;
    }
    this.cells = cells;

    if (auxiliary) {
      const imagenet = variant === 'imagenet';
      this.auxFeatures = new Sequential([
        new Relu(),
        new AvgPool(`${p}auxiliary_head.features.1`, 5, imagenet ? 2 : 3, 0),
        new Conv(`${p}auxiliary_head.features.2`, cAux, 128, [1, 1], [1, 1], [0, 0]),
        new BatchNorm(`${p}auxiliary_head.features.3`, 128),
        new Relu(),
        new Conv(`${p}auxiliary_head.features.5`, 128, 768, [2, 2], [1, 1], [0, 0]),
        // The reference ImageNet head has no batch norm after the 2x2 conv.
        ...(imagenet ? [] : [new BatchNorm(`${p}auxiliary_head.features.6`, 768)]),
        new Relu(),
      ]);
      this.auxClassifier = new Linear(`${p}auxiliary_head.classifier`, 768, classes);
    } else {
      this.auxFeatures = null;
      this.auxClassifier = null;
    }
    this.globalPool =
      variant === 'imagenet' && withClassifier ? new AvgPool(`${p}global_pooling`, 7, 7, 0) : null;
    this.classifier = withClassifier ? new Linear(`${p}classifier`, cPrev, classes) : null;

    this.params = [
      ...this.stems.flatMap((s) => s.params),
      ...cells.flatMap((cell) => cell.params),
      ...(this.auxFeatures?.params ?? []),
      ...(this.auxClassifier?.params ?? []),
      ...(this.classifier?.params ?? []),
    ];
  }

  /** Trainable parameters; the auxiliary head counts only with `auxiliary: true`. */
  countParams(options: { auxiliary?: boolean } = {}): number {
    const include = options.auxiliary ?? false;
    const aux = `${this.prefix}auxiliary_head.`;
    return countParams(this.params.filter((p) => include || !p.name.startsWith(aux)));
  }

  /**
   * Shapes and multiply-adds for an input of `height x width`; throws a clear error when that input
   * cannot pass (odd sizes at a FactorizedReduce, a head that does not end at 1x1, ...).
   */
  trace(height: number, width: number): NetworkTrace {
    const key = `${height}x${width}`;
    const cached = this.traces.get(key);
    if (cached !== undefined) return cached;
    checkPositiveInt('input height', height);
    checkPositiveInt('input width', width);
    const input: Shape3 = [height, width, this.spec.inChannels];
    let macs = 0;
    let activations = 0;
    let s0: Shape3;
    let s1: Shape3;
    if (this.stems.length === 1) {
      const t = this.stems[0].trace(input);
      macs += t.macs;
      activations += t.activations;
      s0 = s1 = t.shape;
    } else {
      const t0 = this.stems[0].trace(input);
      const t1 = this.stems[1].trace(t0.shape);
      macs += t0.macs + t1.macs;
      activations += t0.activations + t1.activations;
      [s0, s1] = [t0.shape, t1.shape];
    }
    const stemShape = s1;
    const cellShapes: Shape3[] = [];
    let auxiliaryMacs = 0;
    this.cells.forEach((cell, i) => {
      const t = cell.trace(s0, s1);
      macs += t.macs;
      activations += t.activations;
      [s0, s1] = [s1, t.shape];
      cellShapes.push(t.shape);
      if (i === this.auxIndex && this.auxFeatures !== null && this.auxClassifier !== null) {
        const a = this.auxFeatures.trace(t.shape);
        expectVector('auxiliary head', a.shape);
        auxiliaryMacs = a.macs + this.auxClassifier.macs;
        activations += a.activations;
      }
    });
    if (this.classifier !== null) {
      let pooled = s1;
      if (this.globalPool !== null) {
        pooled = this.globalPool.trace(s1).shape;
        expectVector('global pooling (avg pool 7x7)', pooled);
      }
      macs += this.classifier.macs;
      if (pooled[2] !== this.classifier.cin)
        throw new Error(`classifier: expects ${this.classifier.cin} features`);
    }
    const tapShapes = [
      ...this.reductionCells.map((r) => (r === 0 ? stemShape : cellShapes[r - 1])),
      cellShapes[cellShapes.length - 1],
    ];
    const result = { macs, auxiliaryMacs, cellShapes, activations, tapShapes };
    this.traces.set(key, result);
    return result;
  }

  /**
   * Runs the network on an NHWC batch. All intermediates are freed; the caller owns the logits.
   * In training mode, the caller gets each batch norm's moments through `onBatchStats`.
   */
  forward(params: ParamMap, input: Tensor4D, options: ForwardOptions = {}): ForwardResult {
    const classifier = this.classifier;
    if (classifier === null) {
      throw new Error('network: built without its classifier (a backbone): use taps()');
    }
    const n = this.checkBatch(input);
    const ctx = forwardContext(params, options);
    const [logits, logitsAux] = tf.tidy(() => {
      const outputs: Tensor2D[] = [];
      const last = this.runCells(input, ctx, (i, _s0, s1) => {
        if (ctx.training && i === this.auxIndex && this.auxFeatures !== null && this.auxClassifier !== null) {
          const features = tf.reshape(this.auxFeatures.apply(s1, ctx), [n, -1]) as Tensor2D;
          outputs.push(this.auxClassifier.apply(features, ctx));
        }
      });
      const pooled = this.globalPool === null ? tf.mean(last, [1, 2]) : this.globalPool.apply(last);
      outputs.unshift(classifier.apply(tf.reshape(pooled, [n, -1]) as Tensor2D, ctx));
      return outputs;
    });
    return { logits, logitsAux: logitsAux ?? null };
  }

  /**
   * The backbone's features, as the reference's `NetworkImageNet.forward` gives them to a dense
   * head (DENSE.md section 1): on reaching each reduction cell, the feature map it reads as s1 (the
   * previous cell's output, or the stem's), then the last cell's output. For the ImageNet variant:
   * strides 8, 16 and 32 with 4C, 8C and 16C channels. Shapes as `trace(h, w).tapShapes`; the
   * caller owns the returned tensors, every other intermediate is freed.
   */
  taps(params: ParamMap, input: Tensor4D, options: ForwardOptions = {}): Tensor4D[] {
    this.checkBatch(input);
    const ctx = forwardContext(params, options);
    return tf.tidy(() => {
      const taps: Tensor4D[] = [];
      const last = this.runCells(
        input,
        ctx,
        (i, s0) => {
          if (this.reductionCells.includes(i)) taps.push(s0);
        },
        taps,
      );
      taps.push(last);
      return taps;
    });
  }

  /** Checks an input batch (channels, size) before computing anything; returns the batch size. */
  private checkBatch(input: Tensor4D): number {
    const [n, h, w, c] = input.shape;
    if (c !== this.spec.inChannels) {
      throw new Error(
        `input: expected ${this.spec.inChannels} channels (NHWC), got shape [${input.shape.join(', ')}]`,
      );
    }
    if (n < 1) throw new Error('input: empty batch');
    this.trace(h, w);
    return n;
  }

  /**
   * Stems and cells, inside the caller's tidy; `afterCell(i, s0, s1)` sees the two latest states
   * after cell i (s1 its output). Returns the last cell's output. A state is freed once read for
   * the last time, unless it is one of `kept`.
   */
  private runCells(
    input: Tensor4D,
    ctx: ForwardContext,
    afterCell: (i: number, s0: Tensor4D, s1: Tensor4D) => void,
    kept: readonly Tensor4D[] = [],
  ): Tensor4D {
    let s0: Tensor4D;
    let s1: Tensor4D;
    if (this.stems.length === 1) {
      s0 = s1 = this.stems[0].apply(input, ctx);
    } else {
      s0 = this.stems[0].apply(input, ctx);
      s1 = this.stems[1].apply(s0, ctx);
    }
    for (let i = 0; i < this.cells.length; i++) {
      const next = tf.tidy(() => this.cells[i].apply(s0, s1, ctx));
      // s0 has been read for the last time (it is s1 only for the CIFAR stem, read twice).
      if (s0 !== s1 && !kept.includes(s0)) s0.dispose();
      [s0, s1] = [s1, next];
      afterCell(i, s0, s1);
    }
    return s1;
  }
}

/**
 * What the modules of a forward pass read besides their input: the options and the parameter map
 * (a missing tensor is a clear error). Shared with the heads built on a backbone.
 */
export function forwardContext(params: ParamMap, options: ForwardOptions = {}): ForwardContext {
  const onBatchStats = options.onBatchStats;
  const training = options.training ?? false;
  sweepDerived();
  return {
    training,
    bnEps: options.bnEps ?? BN_EPS,
    dropPath: options.dropPath ?? null,
    recompute: options.recompute ?? false,
    param(name: string): Tensor {
      const t = params.get(name);
      if (t === undefined) throw new Error(`parameters: missing tensor '${name}'`);
      return t;
    },
    recordBatchStats(name: string, stats: BatchStats): void {
      onBatchStats?.(name, stats);
    },
    derived: training
      ? undefined
      : (key, sources, compute) => (recordingGradients() ? compute() : derivedTensors(key, sources, compute)),
  };
}

function expectVector(what: string, shape: Shape3): void {
  if (shape[0] !== 1 || shape[1] !== 1) {
    throw new Error(
      `${what}: ends at ${shape[0]}x${shape[1]}, the reference needs 1x1 (input size unsupported)`,
    );
  }
}
