// DepthwiseConv2dNativeBackpropInput for the wasm backend, which has none: one XNNPACK depthwise
// convolution of the zero-inserted dy with the rotated filter (see input-gradient.ts). With a
// channel multiplier m the filter [kh, kw, C, m] is used as [kh, kw, C*m, 1] (the same memory)
// and the m gradients of each input channel are summed.
import {
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { assertDyShape, convGeometry } from './geometry';
import { inputGradient } from './input-gradient';
import {
  assertFloat32,
  assertRank4,
  assertUnitDilations,
  composed,
  isEmpty,
  WASM,
  zerosOutput,
} from './scope';

const NAME = DepthwiseConv2dNativeBackpropInput;

function depthwiseConv2dNativeBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: KernelBackend;
  attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dilations, dimRoundingMode, inputShape } = attrs;
  assertFloat32(NAME, { dy, filter });
  assertUnitDilations(NAME, dilations);
  assertRank4(NAME, 'dy', dy.shape);
  assertRank4(NAME, 'inputShape', inputShape);
  const g = convGeometry(NAME, inputShape, filter.shape, strides, pad, dimRoundingMode, true);
  assertDyShape(NAME, dy, g);
  if (isEmpty(dy, filter)) return zerosOutput(backend, [...inputShape]);
  const [kh, kw, c, mult] = filter.shape;

  return composed(backend, (s) => {
    const rotated = s.reverse(s.reshape(filter, [kh, kw, c * mult, 1]), [0, 1]);
    const grad = inputGradient(s, dy, rotated, g, 'depthwiseConv2d');
    if (mult === 1) return grad;
    return s.sum(s.reshape(grad, [g.batch, g.inHeight, g.inWidth, c, mult]), [4]);
  });
}

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as KernelFunc,
};
