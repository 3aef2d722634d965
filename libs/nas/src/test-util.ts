// Shared by this package's parity tests (not built, not exported): how far a result is from the
// reference, and the reference's NCHW tensors as the NHWC tensors our networks take.
import { tf, type HostTensor, type Tensor4D } from '@rnas/engine';

/** ‖out − ref‖ / ‖ref‖. */
export function relError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (out[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / (den || 1));
}

/** An NCHW float tensor of a fixture as an NHWC tensor. */
export function nhwc(host: HostTensor): Tensor4D {
  return tf.tidy(() =>
    tf.transpose(
      tf.tensor4d(host.data as Float32Array, host.shape as [number, number, number, number]),
      [0, 2, 3, 1],
    ),
  );
}
