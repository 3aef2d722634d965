// The one place in the workspace that imports TensorFlow.js. Everything else takes `tf` from here.
export { tf } from './tf';
export type {
  Rank,
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  TensorLike,
  Variable,
  NamedTensorMap,
} from '@tensorflow/tfjs-core';
export { initBackend, type BackendName, type BackendInfo } from './backend';
export {
  availableCores,
  defaultWasmThreads,
  MAX_WASM_THREADS,
  parseWasmThreads,
  servingWasmThreads,
  wasmThreadsPerEngine,
} from './wasm-threads';
export { registerWasmTrainingKernels } from './kernels';
export { measureSimdCeiling, type SimdCeiling } from './kernels/ceiling';
export { dilatedDepthwiseConv2d } from './ops/dilated-depthwise-conv2d';
export { gradients, type GradientsResult } from './gradients';
export { channelAffine, channelDot, type ChannelTerm } from './ops/channel-ops';
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
  type HostTensor,
  type SafetensorsDType,
  type SafetensorsFile,
} from './safetensors';
export { float32FromLittleEndian, littleEndianBytes } from './little-endian';
