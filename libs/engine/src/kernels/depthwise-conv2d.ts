// DepthwiseConv2dNative for the wasm backend with a channel multiplier of 1 (every depthwise
// convolution of the DARTS cells, forward and, through the input gradient, backward). The
// package's XNNPACK kernel builds an indirection buffer of one pointer per tap and output pixel
// on every call (a training step's filters are new tensors, so its operator cache never hits) and
// ran at ~6 GB/s at DARTS sizes; here the taps of each output pixel are summed in registers, 16
// channels at a time, one call per block of output rows and columns that see the same taps, the
// images shared among the engine's kernel threads (gemm.ts's depthwiseImages). Other cases
// (another multiplier, channels not in fours, NCHW, no SIMD) keep the package's kernel.
import {
  DepthwiseConv2dNative,
  type DepthwiseConv2dNativeAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DEPTHWISE, depthwiseArgs } from './gemm';
import { convGeometry } from './geometry';
import { runSplit } from './kernel-threads';
import { PackagedKernel, WASM } from './scope';
import { simdKernels } from './simd';

const packaged = new PackagedKernel(DepthwiseConv2dNative);

/** Takes over the package's kernel, which still runs the cases this one leaves to it. */
export function adoptPackagedDepthwiseConv2d(config: KernelConfig): void {
  packaged.adopt(config, depthwiseConv2dConfig);
}

interface Args {
  inputs: { x: TensorInfo; filter: TensorInfo };
  backend: KernelBackend;
  attrs: DepthwiseConv2dNativeAttrs;
}

function depthwiseConv2d(args: Args): TensorInfo {
  const { inputs, attrs } = args;
  const { x, filter } = inputs;
  const backend = args.backend as BackendWasm;
  const [kh, kw, c, multiplier] = filter.shape;
  const ours =
    x.dtype === 'float32' &&
    filter.dtype === 'float32' &&
    x.shape.length === 4 &&
    filter.shape.length === 4 &&
    multiplier === 1 &&
    c % 4 === 0 &&
    x.shape[3] === c &&
    (attrs.dataFormat ?? 'NHWC') === 'NHWC' &&
    simdKernels(backend) !== null;
  if (!ours) return packaged.run(args);
  const { strides, pad, dilations, dimRoundingMode } = attrs;
  const g = convGeometry(
    DepthwiseConv2dNative,
    x.shape,
    filter.shape,
    strides,
    pad,
    dimRoundingMode,
    true,
    dilations ?? 1,
  );
  const { batch: n, inHeight: h, inWidth: w, outHeight: ho, outWidth: wo } = g;
  const out = backend.makeOutput([n, ho, wo, c], 'float32');
  if (n * ho * wo * c === 0) return out;
  // Addresses are read after the output exists: allocating can grow the heap and move views.
  const operands = depthwiseArgs({
    x: backend.typedArrayFromHeap(x).byteOffset,
    y: backend.typedArrayFromHeap(filter).byteOffset,
    out: backend.typedArrayFromHeap(out).byteOffset,
    ...{ n, h, w, ho, wo, c, kh, kw, top: g.top, left: g.left },
    ...{ sh: g.strideHeight, sw: g.strideWidth, dh: g.dilationHeight, dw: g.dilationWidth },
  });
  runSplit(backend, DEPTHWISE, operands, n, 1, n * ho * wo * c * kh * kw);
  return out;
}

export const depthwiseConv2dConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNative,
  backendName: WASM,
  kernelFunc: depthwiseConv2d as unknown as KernelFunc,
};
