// SSD's multibox loss (`multibox_loss.py`, `hard_negative_mining`; DENSE.md section 2, "Loss").
import { tf, type Scalar, type Tensor3D } from '@rnas/engine';
import type { PriorTargets } from './matching';

/** Negatives kept per positive by hard negative mining (the reference's `neg_pos_ratio`). */
export const NEG_POS_RATIO = 3;

export interface MultiboxLoss {
  /** location + confidence: what training minimises. */
  readonly loss: Scalar;
  /** Smooth L1 (β = 1) of the positives' boxes, over the batch's positives. */
  readonly location: Scalar;
  /** Cross-entropy of the positives and the kept negatives, over the batch's positives. */
  readonly confidence: Scalar;
  /** Positive priors in the batch (the divisor; 0 gives a zero loss). */
  readonly positives: number;
}

/**
 * The loss of a batch's head outputs against its matched targets (`matchPriors`, one per image).
 * Per image, the negatives kept are the 3·positives with the highest −log softmax[background]
 * (ties: the lower prior index first); that ranking is data, not differentiated. Both sums are
 * divided by the batch's positives; a batch without any gives 0 rather than the reference's NaN.
 * Differentiable with the engine's `gradients`; the caller disposes the three scalars.
 */
export function multiboxLoss(
  locations: Tensor3D,
  confidences: Tensor3D,
  targets: readonly PriorTargets[],
  negPosRatio = NEG_POS_RATIO,
): MultiboxLoss {
  const [n, p, k] = confidences.shape;
  if (locations.shape[0] !== n || locations.shape[1] !== p || locations.shape[2] !== 4) {
    throw new Error(
      `multibox loss: locations have shape [${locations.shape.join(', ')}], expected [${n}, ${p}, 4]`,
    );
  }
  if (targets.length !== n) {
    throw new Error(`multibox loss: ${targets.length} targets for a batch of ${n} images`);
  }
  if (!(negPosRatio >= 0 && Number.isFinite(negPosRatio))) {
    throw new Error(`multibox loss: negatives per positive must be a number >= 0, got ${negPosRatio}`);
  }
  const labels = new Int32Array(n * p);
  const boxes = new Float32Array(n * p * 4);
  targets.forEach((t, i) => {
    if (t.labels.length !== p || t.locations.length !== 4 * p) {
      throw new Error(
        `multibox loss: targets of image ${i} cover ${t.labels.length} priors (${t.locations.length} box values), expected ${p} (${4 * p})`,
      );
    }
    for (let j = 0; j < p; j++) {
      const label = t.labels[j];
      if (!(label >= 0 && label < k)) {
        throw new Error(`multibox loss: image ${i}, prior ${j} has label ${label}, expected [0, ${k - 1}]`);
      }
    }
    labels.set(t.labels, i * p);
    boxes.set(t.locations, i * p * 4);
  });
  const background = tf.tidy(() =>
    tf.neg(tf.slice(tf.logSoftmax(confidences), [0, 0, 0], [n, p, 1])).dataSync(),
  ) as Float32Array;
  const { kept, positive, positives } = mineNegatives(background, labels, n, p, negPosRatio);
  return tf.tidy(() => {
    const divisor = Math.max(positives, 1);
    const onehot = tf.oneHot(tf.tensor2d(labels, [n, p], 'int32'), k);
    const ce = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(confidences)), 2));
    const confidence = tf.div(tf.sum(tf.mul(ce, tf.tensor2d(kept, [n, p]))), divisor) as Scalar;
    const diff = tf.abs(tf.sub(locations, tf.tensor3d(boxes, [n, p, 4])));
    // Smooth L1 with β = 1: 0.5·d² below 1, |d| − 0.5 above, as 0.5·q² + (|d| − q) with q = min(|d|, 1).
    const q = tf.minimum(diff, 1);
    const smooth = tf.add(tf.mul(tf.square(q), 0.5), tf.sub(diff, q));
    const location = tf.div(tf.sum(tf.mul(smooth, tf.tensor3d(positive, [n, p, 1]))), divisor) as Scalar;
    return { loss: tf.add(location, confidence) as Scalar, location, confidence, positives };
  });
}

/**
 * The reference's `hard_negative_mining` on host values: per image, positives and the
 * `ratio · positives` negatives of highest background loss. Returns the confidence mask (kept
 * priors), the positive mask and the batch's positive count.
 */
export function mineNegatives(
  backgroundLoss: Float32Array,
  labels: Int32Array,
  n: number,
  p: number,
  ratio = NEG_POS_RATIO,
): { kept: Float32Array; positive: Float32Array; positives: number } {
  const kept = new Float32Array(n * p);
  const positive = new Float32Array(n * p);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    const negatives: number[] = [];
    let pos = 0;
    for (let j = i * p; j < (i + 1) * p; j++) {
      if (labels[j] > 0) {
        kept[j] = positive[j] = 1;
        pos++;
      } else {
        negatives.push(j);
      }
    }
    // A NaN loss ranks last rather than corrupting the order.
    const score = (j: number) => (Number.isNaN(backgroundLoss[j]) ? -Infinity : backgroundLoss[j]);
    negatives.sort((a, b) => score(b) - score(a) || a - b);
    const keep = Math.min(negatives.length, Math.floor(ratio * pos));
    for (let r = 0; r < keep; r++) kept[negatives[r]] = 1;
    positives += pos;
  }
  return { kept, positive, positives };
}
