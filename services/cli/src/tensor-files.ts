// Reading the tensors a command is given: every failure names the file and the tensor.
import { readSafetensors, tf, type HostTensor, type SafetensorsFile, type Tensor4D } from '@rnas/engine';

/** Runs `work` on the file a flag names; a failure is prefixed with the flag (`--spec /x.json: ...`). */
export async function fromFlag<T>(flag: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw new Error(`${flag} ${(err as Error).message}`);
  }
}

/** The safetensors file a flag names (`--weights`, `--input`, ...); errors name the flag and the file. */
export function readTensorFile(path: string, flag: string): Promise<SafetensorsFile> {
  return fromFlag(flag, () => readSafetensors(path));
}

export function requireTensor(file: SafetensorsFile, name: string, path: string): HostTensor {
  const t = Object.hasOwn(file.tensors, name) ? file.tensors[name] : undefined;
  if (t === undefined) {
    const have = Object.keys(file.tensors).slice(0, 8).join(', ');
    throw new Error(`${path}: missing tensor '${name}' (it has: ${have || 'no tensors'})`);
  }
  return t;
}

/** Host values as numbers, for float and integer dtypes. */
export function hostNumbers(t: HostTensor, what: string): number[] {
  switch (t.dtype) {
    case 'F32':
    case 'F64':
    case 'I32':
    case 'I16':
    case 'I8':
    case 'U8':
      return Array.from(t.data as ArrayLike<number>);
    case 'I64':
      return Array.from(t.data as BigInt64Array, (v) => Number(v));
    default:
      throw new Error(`${what} has dtype ${t.dtype}, expected a float or integer type`);
  }
}

/**
 * An NCHW float image batch as an NHWC tensor: rank 4, `channels` channels, and `hw` pixels a
 * side when the spec fixes the input size.
 */
export function imagesFromNchw(t: HostTensor, channels: number, hw: number | null, what: string): Tensor4D {
  if (t.dtype !== 'F32') throw new Error(`${what} has dtype ${t.dtype}, expected F32`);
  const [n, c, h, w] = t.shape;
  if (t.shape.length !== 4 || c !== channels || n < 1) {
    throw new Error(
      `${what} has shape [${t.shape.join(', ')}], expected [N, ${channels}, H, W] (NCHW, N ≥ 1)`,
    );
  }
  if (hw !== null && (h !== hw || w !== hw)) {
    throw new Error(`${what} is ${h}x${w}, but the spec's input_hw is ${hw}`);
  }
  return tf.tidy(() => tf.transpose(tf.tensor4d(t.data as Float32Array, [n, c, h, w]), [0, 2, 3, 1]));
}
