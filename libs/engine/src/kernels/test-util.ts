// Helpers shared by the engine's kernel and op tests (not exported from the package).
import * as tf from '@tensorflow/tfjs-core';

export interface HostArray {
  shape: number[];
  data: Float32Array;
}

/** mulberry32: a small seeded generator, so a failing case can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1). */
export function randomArray(next: () => number, shape: number[]): HostArray {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = next() * 2 - 1;
  return { shape, data };
}

export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  // An all-zero reference (every window in the padding) must be matched exactly in scale.
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-6);
}

/** Runs one kernel through the engine on `backend` and returns its output on the host. */
export async function runKernelOn(
  backend: string,
  kernelName: string,
  inputs: Record<string, HostArray>,
  attrs: object,
): Promise<HostArray> {
  await tf.setBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, a] of Object.entries(inputs)) tensors[name] = tf.tensor(a.data, a.shape, 'float32');
  try {
    const out = tf.engine().runKernel(kernelName, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
    const result = { shape: out.shape, data: out.dataSync() as Float32Array };
    out.dispose();
    return result;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
