// BiSeNet's loss (issue 12; DENSE.md section 3, "Loss"): per-pixel softmax cross-entropy with the
// ignore label, averaged over the labelled pixels; in training, the main output's plus
// `auxiliaryWeight` times each auxiliary output's. The authors' code mines hard pixels (OHEM:
// losses above −ln 0.7, at least 8·1024²/16 of them per GPU batch); that threshold is tuned for
// 1024² Cityscapes crops and means nothing on small inputs, so this is the paper's plain
// cross-entropy, as the issue asks.
import { tf, type Scalar, type Tensor4D } from '@rnas/engine';
import { IGNORE_LABEL } from './config';

/** Labels of a batch on the host: one byte per pixel, a class index or IGNORE_LABEL. */
export interface PixelLabels {
  /** `N·H·W` values, row-major per image. */
  readonly labels: Uint8Array;
  /** Labelled (not ignored) pixels among them. */
  readonly labelled: number;
}

/**
 * Checks a batch's labels against the class count and counts the labelled pixels: a value that
 * is neither a class nor the ignore label is a clear error naming the pixel (`what` names the batch).
 */
export function pixelLabels(labels: Uint8Array, classes: number, what = 'labels'): PixelLabels {
  let labelled = 0;
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v === IGNORE_LABEL) continue;
    if (v >= classes) {
      throw new Error(
        `${what}: pixel ${i} has label ${v}, expected a class in [0, ${classes - 1}] or ${IGNORE_LABEL} (ignored)`,
      );
    }
    labelled++;
  }
  return { labels, labelled };
}

/**
 * Mean cross-entropy of NHWC logits over the labelled pixels (`pixelLabels` checked them); 0 when
 * every pixel is ignored (no gradient then, and no NaN). Inside a gradient closure its
 * intermediates belong to the closure's scope.
 */
export function pixelCrossEntropy(logits: Tensor4D, target: PixelLabels): Scalar {
  const [n, h, w, k] = logits.shape;
  if (target.labels.length !== n * h * w) {
    throw new Error(
      `pixel cross-entropy: ${target.labels.length} labels for logits of ${n}x${h}x${w} pixels`,
    );
  }
  return tf.tidy(() => {
    // No labelled pixel, or a single class (log-softmax is 0): the loss is 0, with zero gradients.
    if (target.labelled === 0 || k === 1) return tf.mul(tf.sum(logits), 0) as Scalar;
    const indices = new Int32Array(target.labels.length);
    const weights = new Float32Array(target.labels.length);
    for (let i = 0; i < indices.length; i++) {
      const v = target.labels[i];
      // An ignored pixel picks class 0 with weight 0: it adds nothing, and no gradient.
      indices[i] = v === IGNORE_LABEL ? 0 : v;
      weights[i] = v === IGNORE_LABEL ? 0 : 1;
    }
    const flat = tf.reshape(logits, [n * h * w, k]);
    const picked = tf.mul(
      // oneHot's dtype argument is not honoured on wasm (int32 bits read as floats): cast instead.
      tf.cast(tf.oneHot(tf.tensor1d(indices, 'int32'), k), 'float32'),
      tf.reshape(tf.tensor1d(weights), [-1, 1]),
    );
    const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(flat), picked)));
    return tf.div(nll, target.labelled) as Scalar;
  });
}

/** The network's outputs as the loss reads them (`BiSeNetOutput`). */
export interface SegmentationLogits {
  readonly main: Tensor4D;
  readonly aux8?: Tensor4D;
  readonly aux16?: Tensor4D;
}

/** main + auxiliaryWeight·(aux8 + aux16); the auxiliary terms only where the outputs have them. */
export function segmentationLoss(
  outputs: SegmentationLogits,
  target: PixelLabels,
  auxiliaryWeight: number,
): Scalar {
  return tf.tidy(() => {
    let loss = pixelCrossEntropy(outputs.main, target);
    for (const aux of [outputs.aux8, outputs.aux16]) {
      if (aux !== undefined && auxiliaryWeight !== 0) {
        loss = tf.add(loss, tf.mul(pixelCrossEntropy(aux, target), auxiliaryWeight));
      }
    }
    return loss;
  });
}
