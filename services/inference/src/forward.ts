import { tf } from '@rnas/engine';
import type { Model } from '@rnas/model';

/**
 * Softmax probabilities (n x classes, row-major) of `n` normalised NHWC images: the one forward
 * pass of serving, used by the compute worker and by the benchmark's in-process baseline.
 */
export function forwardProbabilities(model: Model, input: Float32Array, n: number): Float32Array {
  const { inputHeight, inputWidth, channels } = model.preprocessing;
  return tf.tidy(() => {
    const x = tf.tensor4d(input, [n, inputHeight, inputWidth, channels]);
    const { logits } = model.network.forward(model.params, x);
    // A copy: some backends hand out their own storage, which the tidy frees.
    return Float32Array.from(tf.softmax(logits).dataSync());
  });
}

/**
 * One forward pass at the largest batch size: backends compile kernels and size their buffers on
 * first use, so the first real request does not pay for it, and a model that cannot run at that
 * size (or gives non-finite scores) fails here instead of in front of a client.
 */
export function warmUp(model: Model, batchSize: number): void {
  const { inputHeight, inputWidth, channels } = model.preprocessing;
  const classes = model.labels.length;
  const out = forwardProbabilities(
    model,
    new Float32Array(batchSize * inputHeight * inputWidth * channels),
    batchSize,
  );
  if (out.length !== batchSize * classes) {
    throw new Error(`warm-up gave ${out.length} scores, expected ${batchSize} x ${classes}`);
  }
  const bad = out.findIndex((v) => !Number.isFinite(v));
  if (bad !== -1) throw new Error(`warm-up gave a non-finite score (${out[bad]}) at index ${bad}`);
}
