// Training kernels the wasm backend of tfjs 4.22 lacks, gets wrong or runs slowly, built from its
// XNNPACK kernels (Conv2D, DepthwiseConv2dNative, BatchMatMul), its layout kernels (Transpose,
// PadV2, Reshape, Reverse, Sum, and Slice and Concat where they copy whole blocks), its
// elementwise arithmetic, and the WebAssembly SIMD kernels of simd.ts, which work on the same
// heap. JavaScript touches single elements only where nothing else applies: Slice's runs of a
// few values, and MaxPoolGrad when the channels are not a multiple of four.
import '@tensorflow/tfjs-backend-wasm';
import {
  getGradient,
  getKernel,
  type KernelConfig,
  registerGradient,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
import { avgPoolGradConfig } from './avg-pool-grad';
import { adoptPackagedBatchMatMul, batchMatMulConfig } from './batch-mat-mul';
import { adoptPackagedFusedMatMul, fusedMatMulConfig } from './fused-mat-mul';
import { adoptPackagedCast, castConfig } from './cast';
import { adoptPackagedConcat, adoptPackagedSplitV, concatConfig, splitVConfig } from './concat-split';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input';
import { adoptPackagedDepthwiseConv2d, depthwiseConv2dConfig } from './depthwise-conv2d';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-conv2d-backprop-filter';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-conv2d-backprop-input';
import { identityConfig } from './identity';
import { maxPoolGradConfig } from './max-pool-grad';
import { reluGradConfig, reluGradient } from './relu-grad';
import { adoptPackagedSlice, sliceConfig } from './slice';
import { adoptPackagedTranspose, transposeConfig } from './transpose';

/** Missing on wasm: a training step fails without them. */
const MISSING: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
];

/**
 * Present on wasm but scalar C++ loops in the cases training hits (MaxPoolGrad is also wrong for
 * windows whose maximum is not positive); the replacements are 6-25x faster, except MaxPoolGrad
 * which is as fast, and agree with cpu. Identity and same-type Cast share the data instead of copying it, Slice copies
 * within the heap, Concat and SplitV along inner axes move blocks instead of short runs, and a
 * matrix transpose runs as a faster 3-D one (identity.ts, slice.ts, concat-split.ts, transpose.ts).
 * DepthwiseConv2dNative with multiplier 1 sums each output pixel's taps in registers on the
 * engine's threads instead of XNNPACK's per-call indirection buffer (depthwise-conv2d.ts).
 */
const REPLACED: readonly KernelConfig[] = [
  conv2DBackpropInputConfig,
  avgPoolGradConfig,
  maxPoolGradConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  identityConfig,
  concatConfig,
  splitVConfig,
  sliceConfig,
  transposeConfig,
  castConfig,
  depthwiseConv2dConfig,
];

/** Replacements that keep the package's kernel for the cases they leave to it. */
const ADOPT = new Map<KernelConfig, (packaged: KernelConfig) => void>([
  [batchMatMulConfig, adoptPackagedBatchMatMul],
  [fusedMatMulConfig, adoptPackagedFusedMatMul],
  [concatConfig, adoptPackagedConcat],
  [splitVConfig, adoptPackagedSplitV],
  [sliceConfig, adoptPackagedSlice],
  [transposeConfig, adoptPackagedTranspose],
  [castConfig, adoptPackagedCast],
  [depthwiseConv2dConfig, adoptPackagedDepthwiseConv2d],
]);

export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [...MISSING, ...REPLACED];

/**
 * Registers the training kernels for the 'wasm' backend. Idempotent; safe before or after the
 * backend is initialised (BatchMatMul, Transpose and Cast have setup functions, the package's,
 * which they keep).
 */
export function registerWasmTrainingKernels(): void {
  for (const config of WASM_TRAINING_KERNELS) {
    const existing = getKernel(config.kernelName, config.backendName);
    if (existing?.kernelFunc === config.kernelFunc) continue;
    const adopt = ADOPT.get(config);
    if (adopt !== undefined) {
      if (existing === undefined) {
        throw new Error(`registerWasmTrainingKernels: the wasm backend has no ${config.kernelName}`);
      }
      adopt(existing);
    }
    // Replacing a kernel the package registered: unregister first so tfjs does not warn.
    if (existing !== undefined) unregisterKernel(config.kernelName, config.backendName);
    registerKernel(config);
  }
  // ReLU's gradient in one pass on wasm (relu-grad.ts); it replaces tfjs's own, whose formula it
  // keeps on other backends (tfjs warns of the replacement only in its debug mode).
  if (getKernel(reluGradConfig.kernelName, reluGradConfig.backendName) === undefined) {
    registerKernel(reluGradConfig);
  }
  if (getGradient(reluGradient.kernelName)?.gradFunc !== reluGradient.gradFunc) {
    registerGradient(reluGradient);
  }
}
