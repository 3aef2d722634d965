// Cast for the wasm backend. tfjs casts float32 to float32 in gradients (ReLU's is
// dy * cast(step(x), 'float32')), and the package's kernel copies the tensor even then: one more
// pass over every ReLU's input in the backward pass. A cast to the same type shares the data, as
// Identity does (identity.ts); real conversions keep the package's kernel.
import {
  Cast,
  type CastAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { PackagedKernel, WASM } from './scope';

const packaged = new PackagedKernel(Cast);

/** Takes over the package's kernel, which still does every real conversion. */
export function adoptPackagedCast(config: KernelConfig): void {
  packaged.adopt(config, castConfig);
}

function cast(args: { inputs: { x: TensorInfo }; backend: KernelBackend; attrs: CastAttrs }): TensorInfo {
  const { x } = args.inputs;
  if (args.attrs.dtype === x.dtype) {
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  }
  return packaged.run(args);
}

export const castConfig: KernelConfig = {
  kernelName: Cast,
  backendName: WASM,
  kernelFunc: cast as unknown as KernelFunc,
};
