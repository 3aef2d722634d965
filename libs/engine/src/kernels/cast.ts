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
import { WASM } from './scope';

let packaged: KernelFunc | undefined;

/** Takes over the package's kernel, which still does every real conversion. */
export function adoptPackagedCast(config: KernelConfig): void {
  packaged = config.kernelFunc;
  castConfig.setupFunc = config.setupFunc;
}

function cast(args: { inputs: { x: TensorInfo }; backend: KernelBackend; attrs: CastAttrs }): TensorInfo {
  const { x } = args.inputs;
  if (args.attrs.dtype === x.dtype) {
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  }
  if (packaged === undefined) {
    throw new Error(`${Cast} (wasm): the wasm backend's own kernel was not registered before this one`);
  }
  return packaged(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
}

export const castConfig: KernelConfig = {
  kernelName: Cast,
  backendName: WASM,
  kernelFunc: cast as unknown as KernelFunc,
};
