// What the dense tasks' trainings (detection, segmentation, keypoints) share: the decoded-image
// cache, the epoch's loop (seeded order, batches, one gradient step each with per-group learning
// rates) and the evaluation's loop over the test split in batches. Each task keeps what is its
// own: how a batch is built on the host, its loss and its metrics.
import { tf, type Tensor, type Tensor4D } from '@rnas/engine';
import { deriveSeed, Rng, type RngState } from '@rnas/data';
import { gradientStep, type BatchStats, type ParamMap, type Sgd } from '@rnas/nas';
import { checkAborted, nextTick } from './classification/training';
import type { EpochContext, EpochTraining, TaskModelSpec, TaskRecipe } from './task';

/** A dense task's training options: the task's kind of dataset, the rest as every task's. */
export interface DenseTrainingOptions<D> {
  readonly spec: TaskModelSpec;
  readonly dataset: D;
  readonly recipe: TaskRecipe;
  readonly randomState?: RngState;
  readonly runStep: <T>(epoch: number, batch: number, step: () => T) => T;
  readonly checkLoss: (loss: number, epoch: number, batch: number) => void;
}

/** ImageNet's RGB mean and std on the 0..1 scale: what the backbones were trained with. */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** Decoded images kept in memory across epochs, at most (beyond it, images decode every time). */
export const DECODED_CACHE_BYTES = 1024 * 1024 * 1024;

/** Decoded images (or samples) by file, within a byte budget: what fits is decoded once. */
export class DecodedImageCache<I extends { readonly file: string }, V> {
  private readonly entries = new Map<string, V>();
  private bytes = 0;
  constructor(
    private readonly decode: (item: I) => Promise<V>,
    private readonly sizeOf: (value: V) => number,
    private readonly budget = DECODED_CACHE_BYTES,
  ) {}
  async get(item: I): Promise<V> {
    const hit = this.entries.get(item.file);
    if (hit !== undefined) return hit;
    const decoded = await this.decode(item);
    const size = this.sizeOf(decoded);
    if (this.bytes + size <= this.budget) {
      this.entries.set(item.file, decoded);
      this.bytes += size;
    }
    return decoded;
  }
}

/** The task's generator, whose state the checkpoint carries: from deriveSeed(seed, 1) on a fresh start. */
export function taskRng(recipe: TaskRecipe, randomState: RngState | undefined): Rng {
  return randomState === undefined ? Rng.fromSeed(deriveSeed(recipe.seed, 1)) : Rng.fromState(randomState);
}

/** The test split's first `recipe.evalImages` items (all of them for 0). */
export function evaluationItems<I>(recipe: TaskRecipe, test: readonly I[]): readonly I[] {
  return recipe.evalImages === 0 || recipe.evalImages >= test.length
    ? test
    : test.slice(0, recipe.evalImages);
}

/** A batch on the host: its normalised NHWC RGB input, of `size` images. */
export interface DenseHostBatch {
  readonly input: Float32Array;
  readonly size: number;
}

/** Builds a batch on the host; `augment` gives the i-th item's generator when training, null when evaluating. */
export type HostBatchBuilder<I, B extends DenseHostBatch> = (
  items: readonly I[],
  augment: ((i: number) => Rng) | null,
) => Promise<B>;

/**
 * A group of parameters stepped at `lrScale` times the epoch's learning rate. The optimiser clips
 * each group's gradients on their own. A group without `includes` takes every parameter the groups
 * before it did not.
 */
export interface LearningRateGroup {
  readonly includes?: (name: string) => boolean;
  readonly lrScale: number;
}

export interface DenseEpochOptions<I, B extends DenseHostBatch> {
  readonly train: readonly I[];
  readonly recipe: TaskRecipe;
  readonly runStep: <T>(epoch: number, batch: number, step: () => T) => T;
  readonly checkLoss: (loss: number, epoch: number, batch: number) => void;
  /** The network's input height and width. */
  readonly inputSize: readonly [number, number];
  readonly hostBatch: HostBatchBuilder<I, B>;
  /** The batch's training loss; inside the gradient closure its intermediates belong to the closure's scope. */
  readonly loss: (x: Tensor4D, batch: B, onBatchStats: (name: string, stats: BatchStats) => void) => Tensor;
  /** The parameters with gradients this epoch. */
  readonly trainable: readonly string[];
  /** Per-parameter-group learning-rate multipliers, stepped in this order; a group at 0 is not stepped. */
  readonly lrGroups: readonly LearningRateGroup[];
}

/**
 * One gradient step's update: each group's gradients at its learning rate. Returns the groups'
 * combined gradient norm (one group's as the optimiser gives it); leaves the optimiser at `learningRate`.
 */
function groupedUpdate(
  params: ParamMap,
  optimizer: Sgd,
  learningRate: number,
  groups: readonly LearningRateGroup[],
  grads: ReadonlyMap<string, Tensor>,
): number {
  const parts = groups.map(() => new Map<string, Tensor>());
  for (const [name, g] of grads) {
    const i = groups.findIndex((group) => group.includes === undefined || group.includes(name));
    if (i < 0) throw new Error(`learning-rate groups: no group takes the parameter '${name}'`);
    parts[i].set(name, g);
  }
  let squares = 0;
  let single = 0;
  groups.forEach((group, i) => {
    if (parts[i].size === 0 || group.lrScale <= 0) return;
    optimizer.lr = learningRate * group.lrScale;
    single = optimizer.step(params, parts[i]);
    squares += single ** 2;
  });
  optimizer.lr = learningRate;
  return groups.length === 1 ? single : Math.sqrt(squares);
}

/**
 * One epoch: the training split in the order deriveSeed(seed, 2, epoch) draws (its first
 * `recipe.trainImages`, all for 0), in batches of `recipe.batchSize`, item i of the epoch augmented
 * with deriveSeed(seed, 3, epoch, i). A last batch of one is left out: batch norm's unbiased
 * variance of one value divides by zero.
 */
export async function trainDenseEpoch<I, B extends DenseHostBatch>(
  params: ParamMap,
  optimizer: Sgd,
  context: EpochContext,
  options: DenseEpochOptions<I, B>,
): Promise<EpochTraining> {
  const { train, recipe, runStep, checkLoss, hostBatch, trainable, lrGroups } = options;
  const [height, width] = options.inputSize;
  const { epoch, signal, cancelled, learningRate } = context;
  const order = Rng.fromSeed(deriveSeed(recipe.seed, 2, epoch)).permutation(train.length);
  const count = recipe.trainImages === 0 ? order.length : Math.min(recipe.trainImages, order.length);
  let loss = 0;
  let images = 0;
  let stepMs = 0;
  const batches = Math.ceil(count / recipe.batchSize);
  for (let b = 0; b < batches; b++) {
    const start = b * recipe.batchSize;
    const n = Math.min(recipe.batchSize, count - start);
    if (n < 2) break;
    await nextTick();
    checkAborted(signal, cancelled);
    const picked = Array.from(order.subarray(start, start + n), (i) => train[i]);
    const batch = await hostBatch(picked, (i) => Rng.fromSeed(deriveSeed(recipe.seed, 3, epoch, start + i)));
    const started = performance.now();
    const x = tf.tensor4d(batch.input, [batch.size, height, width, 3]);
    let step: { loss: number };
    try {
      step = runStep(epoch, b, () =>
        gradientStep(
          params,
          trainable,
          (onBatchStats) => options.loss(x, batch, onBatchStats),
          (grads) => groupedUpdate(params, optimizer, learningRate, lrGroups, grads),
        ),
      );
    } finally {
      x.dispose();
    }
    stepMs += performance.now() - started;
    checkLoss(step.loss, epoch, b);
    loss += step.loss * n;
    images += n;
  }
  return { loss: images > 0 ? loss / images : 0, accuracy: null, images, stepMs };
}

export interface EvaluateInBatchesOptions<I, B extends DenseHostBatch> {
  readonly batchSize: number;
  /** The network's input height and width. */
  readonly inputSize: readonly [number, number];
  readonly hostBatch: HostBatchBuilder<I, B>;
  /**
   * Scores one batch (the task collects its predictions for its metrics) and returns the batch's
   * mean inference-mode loss. `x` is disposed after it returns.
   */
  readonly evaluateBatch: (x: Tensor4D, batch: B, picked: readonly I[]) => number;
}

/** The evaluation's loop over `items` in batches, unaugmented; returns the mean loss over the items. */
export async function evaluateInBatches<I, B extends DenseHostBatch>(
  items: readonly I[],
  context: Pick<EpochContext, 'signal' | 'cancelled'>,
  options: EvaluateInBatchesOptions<I, B>,
): Promise<number> {
  const { batchSize, hostBatch, evaluateBatch } = options;
  const [height, width] = options.inputSize;
  let loss = 0;
  for (let start = 0; start < items.length; start += batchSize) {
    await nextTick();
    checkAborted(context.signal, context.cancelled);
    const picked = items.slice(start, start + batchSize);
    const batch = await hostBatch(picked, null);
    const x = tf.tensor4d(batch.input, [batch.size, height, width, 3]);
    try {
      loss += evaluateBatch(x, batch, picked) * batch.size;
    } finally {
      x.dispose();
    }
  }
  return loss / items.length;
}

/**
 * The metrics that are defined: left out are NaN (nothing to score, e.g. no labelled pixel) and
 * COCO's -1 (no ground truth of any class, no object of a size range).
 */
export function definedMetrics(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v) && v >= 0));
}
