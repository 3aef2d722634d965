// ReLU's gradient. tfjs computes it as dy * step(x): two kernels and an intermediate tensor the
// size of x, over every activation of a training step. On wasm this is one pass of the SIMD
// kernel reluGrad (simd.ts): dx = dy where x > 0, else 0, cut among the engine's kernel threads
// for large tensors (elementwise: the same values). Like PyTorch's threshold_backward, a NaN
// in x passes no gradient (tfjs's step propagates it); elsewhere the results are equal. Other
// backends keep tfjs's own formula.
import {
  type GradConfig,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  Relu,
  type Tensor,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { tf } from '../tf';
import { RELU_GRAD_VECTORS } from './gemm';
import { passWork, runSplit } from './kernel-threads';
import { WASM } from './scope';
import { simdKernels } from './simd';

export const RELU_GRAD = 'RnasReluGrad';

function reluGrad(args: { inputs: { dy: TensorInfo; x: TensorInfo }; backend: KernelBackend }): TensorInfo {
  const { dy, x } = args.inputs;
  const backend = args.backend as BackendWasm;
  const kernels = simdKernels(backend);
  if (kernels === null) throw new Error(`${RELU_GRAD} (wasm): the SIMD kernels are not available`);
  const out = backend.makeOutput([...x.shape], 'float32');
  const values = backend.typedArrayFromHeap(out);
  const [xs, dys] = [backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(dy)];
  const vectors = values.length >> 2;
  // On the kernel threads for large tensors (passWork), in runs of 1024 vectors (16 KiB).
  const operands = [xs.byteOffset, dys.byteOffset, values.byteOffset];
  runSplit(backend, RELU_GRAD_VECTORS, operands, vectors, 1024, passWork(values.length));
  for (let i = 4 * vectors; i < values.length; i++) values[i] = xs[i] > 0 ? dys[i] : 0;
  return out;
}

export const reluGradConfig: KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: WASM,
  kernelFunc: reluGrad as unknown as KernelFunc,
};

/** Relu's gradient: the one-pass kernel on wasm for float32 of one shape, tfjs's formula elsewhere. */
export const reluGradient: GradConfig = {
  kernelName: Relu,
  inputsToSave: ['x'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const [x] = saved;
    const g = dy as Tensor;
    return {
      x: () =>
        tf.getBackend() === WASM &&
        x.dtype === 'float32' &&
        g.dtype === 'float32' &&
        tf.util.arraysEqual(x.shape, g.shape) &&
        simdKernels(tf.backend() as BackendWasm) !== null
          ? (tf.engine().runKernel(RELU_GRAD, { dy: g, x }) as Tensor)
          : tf.mul(g, tf.cast(tf.step(x), 'float32')),
    };
  },
};
