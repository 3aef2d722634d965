// AvgPoolGrad for the wasm backend. The package's kernel is a scalar C++ loop (22 ms for a 3x3
// pool on 64x32x32x16); the gradient is a depthwise transposed convolution with a constant
// filter, one XNNPACK call here. As in tfjs (cpu and wasm), every window's share is 1/(kh*kw),
// padding included.
import {
  AvgPoolGrad,
  type AvgPoolGradAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { assertDyShape, convGeometry } from './geometry';
import { inputGradient } from './input-gradient';
import { assertFloat32, assertRank4, composed, isEmpty, WASM, zerosOutput } from './scope';

function avgPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo };
  backend: KernelBackend;
  attrs: AvgPoolGradAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  const { filterSize, strides, pad } = attrs;
  assertFloat32(AvgPoolGrad, { dy, input });
  assertRank4(AvgPoolGrad, 'input', input.shape);
  const [kh, kw] = typeof filterSize === 'number' ? [filterSize, filterSize] : filterSize;
  const c = input.shape[3];
  const g = convGeometry(AvgPoolGrad, input.shape, [kh, kw, c, 1], strides, pad, undefined, true);
  assertDyShape(AvgPoolGrad, dy, g);
  if (isEmpty(dy, input)) return zerosOutput(backend, [...input.shape]);
  return composed(backend, (s) =>
    inputGradient(s, dy, s.fill([kh, kw, c, 1], 1 / (kh * kw)), g, 'depthwiseConv2d'),
  );
}

export const avgPoolGradConfig: KernelConfig = {
  kernelName: AvgPoolGrad,
  backendName: WASM,
  kernelFunc: avgPoolGrad as unknown as KernelFunc,
};
