// Training kernels the wasm backend of tfjs 4.22 lacks, gets wrong or runs slowly, built from its
// XNNPACK kernels (Conv2D, DepthwiseConv2dNative, BatchMatMul), its layout kernels (Transpose,
// PadV2, Reshape, Reverse, Sum) and its elementwise arithmetic; no tensor element is touched in
// JavaScript.
import '@tensorflow/tfjs-backend-wasm';
import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { avgPoolGradConfig } from './avg-pool-grad';
import { adoptPackagedBatchMatMul, batchMatMulConfig } from './batch-mat-mul';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-conv2d-backprop-filter';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-conv2d-backprop-input';
import { maxPoolGradConfig } from './max-pool-grad';

/** Missing on wasm: a training step fails without them. */
const MISSING: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
];

/**
 * Present on wasm but scalar C++ loops in the cases training hits (MaxPoolGrad is also wrong for
 * windows whose maximum is not positive); the replacements are 6-25x faster, except MaxPoolGrad
 * which is as fast, and agree with cpu. BatchMatMul keeps the package's kernel for what it already
 * does fast.
 */
const REPLACED: readonly KernelConfig[] = [
  conv2DBackpropInputConfig,
  avgPoolGradConfig,
  maxPoolGradConfig,
  batchMatMulConfig,
];

export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [...MISSING, ...REPLACED];

/**
 * Registers the training kernels for the 'wasm' backend. Idempotent; safe before or after the
 * backend is initialised (only BatchMatMul has a setup function, the package's, which it keeps).
 */
export function registerWasmTrainingKernels(): void {
  for (const config of WASM_TRAINING_KERNELS) {
    const existing = getKernel(config.kernelName, config.backendName);
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (config === batchMatMulConfig) {
      if (existing === undefined)
        throw new Error('registerWasmTrainingKernels: the wasm backend has no BatchMatMul');
      adoptPackagedBatchMatMul(existing);
    }
    // Replacing a kernel the package registered: unregister first so tfjs does not warn.
    if (existing !== undefined) unregisterKernel(config.kernelName, config.backendName);
    registerKernel(config);
  }
}
