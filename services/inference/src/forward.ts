import { tf } from '@rnas/engine';
import type { Model } from '@rnas/model';

/**
 * The task's serving records (n x outputSize, row-major: a classifier's softmax probabilities, a
 * detector's decoded detections) of `n` normalised NHWC images: the one forward pass of serving,
 * used by the compute worker and by the benchmark's in-process baseline.
 */
export function forwardProbabilities(model: Model, input: Float32Array, n: number): Float32Array {
  const { inputHeight, inputWidth, channels } = model.preprocessing;
  const x = tf.tensor4d(input, [n, inputHeight, inputWidth, channels]);
  try {
    return model.network.infer(model.params, x);
  } finally {
    x.dispose();
  }
}

/**
 * One forward pass at the largest batch size: backends compile kernels and size their buffers on
 * first use, so the first real request does not pay for it, and a model that cannot run at that
 * size (or gives non-finite scores) fails here instead of in front of a client.
 */
export function warmUp(model: Model, batchSize: number): void {
  const { inputHeight, inputWidth, channels } = model.preprocessing;
  const size = model.network.outputSize;
  const out = forwardProbabilities(
    model,
    new Float32Array(batchSize * inputHeight * inputWidth * channels),
    batchSize,
  );
  if (out.length !== batchSize * size) {
    throw new Error(`warm-up gave ${out.length} values, expected ${batchSize} x ${size}`);
  }
  const bad = out.findIndex((v) => !Number.isFinite(v));
  if (bad !== -1) throw new Error(`warm-up gave a non-finite score (${out[bad]}) at index ${bad}`);
}
