// Helpers shared by the engine's kernel and op tests (not exported from the package).
import { tf } from '../tf';

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
  inputs: Record<string, HostArray> | HostArray[],
  attrs: object,
): Promise<HostArray> {
  const outputs = await runKernelOutputs(backend, kernelName, inputs, attrs);
  if (outputs.length !== 1) throw new Error(`${kernelName} returned ${outputs.length} outputs, expected 1`);
  return outputs[0];
}

/**
 * Runs one kernel through the engine on `backend` and returns all its outputs on the host. Inputs
 * as an array are for kernels that take a list (Concat).
 */
export async function runKernelOutputs(
  backend: string,
  kernelName: string,
  inputs: Record<string, HostArray> | HostArray[],
  attrs: object,
): Promise<HostArray[]> {
  await tf.setBackend(backend);
  const made = (a: HostArray) => tf.tensor(a.data, a.shape, 'float32');
  const tensors = Array.isArray(inputs)
    ? inputs.map(made)
    : Object.fromEntries(Object.entries(inputs).map(([name, a]) => [name, made(a)]));
  try {
    const out = tf.engine().runKernel(kernelName, tensors as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
    const outs = Array.isArray(out) ? out : [out as tf.Tensor];
    const result = outs.map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    tf.dispose(outs);
    return result;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
