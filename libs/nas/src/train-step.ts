import { gradients, tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor4D } from '@rnas/engine';
import type { BatchStats, DropPath } from './layers';
import { softmaxCrossEntropy } from './loss';
import type { Network } from './network';
import { BATCHES_TRACKED_SUFFIX, type ParamMap } from './params';
import type { Sgd } from './sgd';

export interface TrainStepOptions {
  readonly dropPath?: DropPath | null;
  /**
   * Recompute edge ops in the backward pass (see `ForwardOptions.recompute`): about a third more
   * compute for a fraction of the memory. Default: only when the batch's activations
   * (`NetworkTrace.activations`) would take more than RECOMPUTE_ABOVE_BYTES, which keeps a step
   * within the 4 GiB wasm heap (the search network at batch 64 needs about 1.1 GiB without).
   */
  readonly recompute?: boolean;
  /** Weight of the auxiliary head's loss (the reference's 0.4); used when the network has the head. */
  readonly auxiliaryWeight?: number;
  readonly labelSmoothing?: number;
  readonly bnEps?: number;
  /** Batch-norm momentum: running = (1-m)·running + m·batch. The reference's 0.1 by default. */
  readonly bnMomentum?: number;
}

/**
 * Activation bytes of a batch above which a training step recomputes by default. The wasm heap
 * peaks at about 1.2x the activations (measured: 1.27 GiB for the search network at batch 64,
 * 2.5 GiB at batch 128, 1.9 GiB for the evaluation network at batch 16), so this keeps a step
 * below about 2.7 GiB of the 4 GiB heap, leaving room for the rest of the process.
 */
export const RECOMPUTE_ABOVE_BYTES = 2.25 * 2 ** 30;

/** Whether a training step on `images` recomputes by default (see `TrainStepOptions.recompute`). */
export function defaultRecompute(network: Network, images: Tensor4D): boolean {
  const [n, h, w] = images.shape;
  return n * network.trace(h, w).activations * 4 > RECOMPUTE_ABOVE_BYTES;
}

export interface TrainStepResult {
  /** Loss of the batch before the update (auxiliary term included when present). */
  readonly loss: number;
  /** Global L2 norm of the gradients before clipping. */
  readonly gradNorm: number;
  /** Training-mode logits of the batch; the caller disposes them. */
  readonly logits: Tensor2D;
}

/**
 * One training step of the reference: training-mode forward (batch statistics, drop path,
 * auxiliary head), mean cross-entropy, gradients of every trainable parameter, running statistics
 * updated from the batch (unbiased variance), then `optimizer.step`. `params` is updated in place.
 */
export function trainStep(
  network: Network,
  params: ParamMap,
  images: Tensor4D,
  labels: Tensor1D,
  optimizer: Sgd,
  options: TrainStepOptions = {},
): TrainStepResult {
  const auxWeight = options.auxiliaryWeight ?? 0.4;
  const trainable = network.params.filter((p) => p.kind === 'weight').map((p) => p.name);
  const recompute = options.recompute ?? defaultRecompute(network, images);
  // Assigned inside the loss closure, so held in an object rather than a narrowed `let`.
  const kept: { logits: Tensor2D | null } = { logits: null };
  try {
    const { loss, gradNorm } = gradientStep(
      params,
      trainable,
      (onBatchStats) => {
        const out = network.forward(params, images, {
          training: true,
          dropPath: options.dropPath ?? null,
          recompute,
          bnEps: options.bnEps,
          onBatchStats,
        });
        kept.logits = tf.keep(out.logits);
        let total = softmaxCrossEntropy(out.logits, labels, options.labelSmoothing);
        if (out.logitsAux !== null) {
          total = tf.add(
            total,
            tf.mul(softmaxCrossEntropy(out.logitsAux, labels, options.labelSmoothing), auxWeight),
          );
        }
        return total;
      },
      (grads) => optimizer.step(params, grads),
      options.bnMomentum,
    );
    return { loss, gradNorm, logits: kept.logits as unknown as Tensor2D };
  } catch (err) {
    kept.logits?.dispose();
    throw err;
  }
}

/**
 * One gradient step of any network on a parameter map (what `trainStep` does for a classifier,
 * and a dense task's trainer for its head): `loss` runs the training-mode forward pass, handing
 * `onBatchStats` to it, and returns the scalar loss; the gradients of the `trainable` parameters
 * go to `update` (an optimiser's step; parameters the loss does not reach get none, as PyTorch's
 * grad None); then every batch norm's running statistics move by the batch's (unbiased variance,
 * `bnMomentum`, the reference's 0.1 by default). Returns the loss before the update and what
 * `update` returned (the gradient norm).
 */
export function gradientStep(
  params: ParamMap,
  trainable: readonly string[],
  loss: (onBatchStats: (name: string, stats: BatchStats) => void) => Tensor,
  update: (grads: ReadonlyMap<string, Tensor>) => number,
  bnMomentum = 0.1,
): { loss: number; gradNorm: number } {
  if (!(bnMomentum >= 0 && bnMomentum <= 1)) {
    throw new Error(`train step: batch-norm momentum must be in [0, 1], got ${bnMomentum}`);
  }
  const weights = trainable.map((name) => {
    const t = params.get(name);
    if (t === undefined) throw new Error(`parameters: missing tensor '${name}'`);
    return t;
  });
  // In forward order: a module that runs twice in one pass (two edges sharing it in the search
  // network) updates its running statistics twice, one after the other, as PyTorch does.
  const stats: [string, BatchStats][] = [];
  let grads: (Tensor | undefined)[] = [];
  let value: Tensor | null = null;
  try {
    // The engine's gradients rather than tf.valueAndGrads, which refuses any argument without a
    // gradient (a cell may leave an input, hence its preprocessing, unused), and which keeps every
    // intermediate gradient until the backward pass ends.
    ({ value, grads } = gradients(
      () =>
        loss((name, s) => {
          stats.push([name, { mean: tf.keep(s.mean), variance: tf.keep(s.variance), count: s.count }]);
        }),
      weights,
    ));
    const lossValue = value.dataSync()[0];
    const named = new Map<string, Tensor>();
    trainable.forEach((name, i) => {
      const g = grads[i];
      if (g !== undefined) named.set(name, g);
    });
    const gradNorm = update(named);
    updateRunningStats(params, stats, bnMomentum);
    return { loss: lossValue, gradNorm };
  } finally {
    value?.dispose();
    for (const g of grads) g?.dispose();
    for (const [, s] of stats) {
      s.mean.dispose();
      s.variance.dispose();
    }
  }
}

/**
 * Batch norms' running statistics from a training forward's moments (`onBatchStats`, in forward
 * order), as PyTorch updates them: running = (1 − m)·running + m·batch, the variance unbiased;
 * `num_batches_tracked` counters, where the map has them, count up. Any head on a backbone trains
 * with it.
 */
export function updateRunningStats(
  params: ParamMap,
  stats: readonly [string, BatchStats][],
  m: number,
): void {
  for (const [name, s] of stats) {
    const meanKey = `${name}.running_mean`;
    const varKey = `${name}.running_var`;
    const mean = params.get(meanKey);
    const variance = params.get(varKey);
    if (mean === undefined || variance === undefined)
      throw new Error(`parameters: missing buffers of '${name}'`);
    const unbiased = s.count / (s.count - 1);
    const [newMean, newVar] = tf.tidy(() => [
      tf.add(tf.mul(mean, 1 - m), tf.mul(s.mean, m)),
      tf.add(tf.mul(variance, 1 - m), tf.mul(s.variance, m * unbiased)),
    ]);
    mean.dispose();
    variance.dispose();
    params.set(meanKey, newMean);
    params.set(varKey, newVar);
    const counter = params.get(`${name}${BATCHES_TRACKED_SUFFIX}`);
    if (counter !== undefined) {
      params.set(
        `${name}${BATCHES_TRACKED_SUFFIX}`,
        tf.tidy(() => tf.add(counter, tf.scalar(1, 'int32'))),
      );
      counter.dispose();
    }
  }
}
