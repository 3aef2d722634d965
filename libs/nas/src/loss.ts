import { tf, type Scalar, type Tensor1D, type Tensor2D } from '@rnas/engine';

/**
 * Mean softmax cross-entropy of `[N, K]` logits against int32 class indices. With label smoothing
 * ε the target is (1-ε)·onehot + ε/K (the reference's CrossEntropyLabelSmooth).
 */
export function softmaxCrossEntropy(logits: Tensor2D, labels: Tensor1D, labelSmoothing = 0): Scalar {
  const [n, k] = logits.shape;
  if (labels.rank !== 1 || labels.shape[0] !== n) {
    throw new Error(`loss: labels have shape [${labels.shape.join(', ')}], expected [${n}]`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
    throw new Error(`loss: label smoothing must be in [0, 1), got ${labelSmoothing}`);
  }
  return tf.tidy(() => {
    let target: Tensor2D = tf.oneHot(tf.cast(labels, 'int32'), k) as Tensor2D;
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / k);
    return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as Scalar;
  });
}

/** Class indices stored as numbers (the fixtures store them as float32): each must be an integer in [0, classes). */
export function labelsTensor(values: ArrayLike<number>, classes: number, source = 'labels'): Tensor1D {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new Error(`${source}[${i}] is ${v}, expected a class index in [0, ${classes - 1}]`);
    }
    out[i] = v;
  }
  return tf.tensor1d(out, 'int32');
}
