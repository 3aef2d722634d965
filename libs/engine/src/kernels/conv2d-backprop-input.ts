// Conv2DBackpropInput for the wasm backend. The package's own kernel is a scalar C++ loop,
// 10-15x slower than its XNNPACK Conv2D at DARTS sizes (131 ms against 11 ms for a 3x3 16->16
// convolution on 64x32x32); this one is a single XNNPACK convolution (see input-gradient.ts).
import {
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { assertDyShape, convGeometry } from './geometry';
import { inputGradient } from './input-gradient';
import { assertFloat32, assertRank4, composed, isEmpty, WASM, zerosOutput } from './scope';

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];

function conv2DBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: KernelBackend;
  attrs: Conv2DBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  assertFloat32(Conv2DBackpropInput, { dy, filter });
  assertRank4(Conv2DBackpropInput, 'dy', dy.shape);
  assertRank4(Conv2DBackpropInput, 'inputShape', inputShape);
  const nchw = dataFormat === 'NCHW';
  if (!nchw && dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(
      `${Conv2DBackpropInput} (wasm): dataFormat must be 'NHWC' or 'NCHW', got '${dataFormat}'`,
    );
  }
  const inShape = nchw ? NCHW_TO_NHWC.map((i) => inputShape[i]) : [...inputShape];
  const g = convGeometry(Conv2DBackpropInput, inShape, filter.shape, strides, pad, dimRoundingMode, false);
  const dyNhwc = nchw ? { ...dy, shape: NCHW_TO_NHWC.map((i) => dy.shape[i]) } : dy;
  assertDyShape(Conv2DBackpropInput, dyNhwc, g);
  if (isEmpty(dy, filter)) return zerosOutput(backend, [...inputShape]);

  return composed(backend, (s) => {
    const grad = (d: TensorInfo): TensorInfo =>
      inputGradient(s, d, s.transpose(s.reverse(filter, [0, 1]), [0, 1, 3, 2]), g, 'conv2d');
    if (!nchw) return grad(dy);
    return s.transpose(grad(s.transpose(dy, NCHW_TO_NHWC)), NHWC_TO_NCHW);
  });
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: WASM,
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
