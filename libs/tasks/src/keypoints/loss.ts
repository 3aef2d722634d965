// SimpleBaseline's loss (`P/core/loss.py` JointsMSELoss with USE_TARGET_WEIGHT, DENSE.md
// section 4, "Loss"): Σ_joints 0.5·MSE(w·pred, w·gt) / K, which is 0.5·mean((w·(pred − gt))²)
// over the batch, the joints and the pixels.
import { tf, type Scalar, type Tensor2D, type Tensor4D } from '@rnas/engine';

/**
 * The loss of `[N, h, w, K]` heatmaps against targets of the same shape with `[N, K]` joint
 * weights (0 for an unlabelled joint), as a scalar tensor the caller owns.
 */
export function keypointLoss(heatmaps: Tensor4D, targets: Tensor4D, weights: Tensor2D): Scalar {
  const [n, , , k] = heatmaps.shape;
  if (targets.shape.some((v, i) => v !== heatmaps.shape[i])) {
    throw new Error(
      `keypoint loss: targets are [${targets.shape.join(', ')}], heatmaps [${heatmaps.shape.join(', ')}]`,
    );
  }
  if (weights.shape[0] !== n || weights.shape[1] !== k) {
    throw new Error(`keypoint loss: weights are [${weights.shape.join(', ')}], expected [${n}, ${k}]`);
  }
  return tf.tidy(() => {
    const diff = tf.mul(tf.sub(heatmaps, targets), tf.reshape(weights, [n, 1, 1, k]));
    return tf.mul(tf.mean(tf.square(diff)), 0.5) as Scalar;
  });
}
