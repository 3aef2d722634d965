import { tf, type Tensor1D, type Tensor4D } from '@rnas/engine';
import { hostBatches, type BatchOptions, type HostBatch } from './host-batches';
import type { Split } from './split';

/** A batch as tensors; the caller owns them and disposes them. */
export interface Batch {
  index: number;
  size: number;
  images: Tensor4D;
  labels: Tensor1D;
}

/** Makes the tensors of a host batch (two tensors, owned by the caller). */
export function toTensors(batch: HostBatch): Batch {
  const images = tf.tensor4d(batch.images, batch.shape, 'float32');
  try {
    return { index: batch.index, size: batch.size, images, labels: tf.tensor1d(batch.labels, 'int32') };
  } catch (err) {
    images.dispose();
    throw err;
  }
}

/**
 * One pass over a split as tensors. Each batch's tensors are made when it is requested and belong
 * to the caller, who disposes them (or creates them inside a tf.tidy); abandoning the pass early
 * leaks nothing.
 */
export function batches(split: Split, options: BatchOptions): Generator<Batch> {
  return tensorBatches(hostBatches(split, options));
}

function* tensorBatches(host: Generator<HostBatch>): Generator<Batch> {
  for (const batch of host) yield toTensors(batch);
}
