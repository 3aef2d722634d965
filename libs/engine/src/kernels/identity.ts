// Identity for the wasm backend. The package's kernel copies the tensor, and tfjs runs Identity
// for every tensor the gradient tape saves (and for tf.clone): a training step copied each saved
// activation once more, which cost time and, with the tape holding the copies, twice the memory.
// Tensors are immutable and no wasm kernel writes to its inputs, so this one shares the data and
// counts a reference, as the cpu backend's Identity does.
import {
  Identity,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { WASM } from './scope';

function identity(args: { inputs: { x: TensorInfo }; backend: KernelBackend }): TensorInfo {
  const { x } = args.inputs;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: WASM,
  kernelFunc: identity as unknown as KernelFunc,
};
