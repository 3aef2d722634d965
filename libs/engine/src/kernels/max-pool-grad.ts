// MaxPoolGrad for the wasm backend. The package's kernel (tfjs 4.22) starts each window's
// running maximum at FLT_MIN, the smallest positive float, instead of -inf, so a window whose
// maximum is zero or negative (common after batch norm, and every all-zero window after a ReLU)
// records position 0 as its argmax and so drops its gradient; and it keeps the last of tied
// maxima where cpu keeps the first. Against cpu that is 3-50% relative error on random inputs.
// This kernel follows the cpu backend: each window's gradient goes to the first pixel, in row-major
// order over the pixels inside the input, that equals the window's pooled maximum (the first
// maximum, as PyTorch); a window whose maximum is -inf (only -inf inside) or NaN routes it nowhere.
//
// The compare per pixel that this takes is no XNNPACK kernel's. Composed from wasm kernels (one-hot
// depthwise gathers, arithmetic masks, a padded canvas per tap) it took 45-65 ms at
// [64, 32, 32, 32] stride 2 and [64, 32, 32, 16] stride 1. Here each window is one call of the
// SIMD kernel `route` (simd.ts, four channels at a time) when the channels are a multiple of four,
// and otherwise a loop over the heap in JavaScript that stops at the first equal pixel (15-30 ms;
// the SIMD kernel is 3-5x faster still).
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { assertDyShape, convGeometry } from './geometry';
import { assertFloat32, assertRank4, WASM } from './scope';
import { simdKernels } from './simd';

function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  backend: KernelBackend;
  attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const { inputs, attrs } = args;
  const backend = args.backend as BackendWasm;
  const { dy, input, output } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  assertFloat32(MaxPoolGrad, { dy, input, output });
  assertRank4(MaxPoolGrad, 'input', input.shape);
  const [kh, kw] = typeof filterSize === 'number' ? [filterSize, filterSize] : filterSize;
  const [n, h, w, c] = input.shape;
  const g = convGeometry(MaxPoolGrad, input.shape, [kh, kw, c, 1], strides, pad, dimRoundingMode, true);
  assertDyShape(MaxPoolGrad, dy, g);
  assertDyShape(MaxPoolGrad, output, g);
  const out = backend.makeOutput([...input.shape], 'float32');
  // Views are taken after the output exists: allocating can grow the heap and detach older ones.
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  if (dx.length === 0 || dy.shape.includes(0)) return out;
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const pooled = backend.typedArrayFromHeap(output) as Float32Array;
  const grad = backend.typedArrayFromHeap(dy) as Float32Array;
  const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw, top, left } = g;
  const route = c % 4 === 0 ? simdKernels(backend)?.route : undefined;
  if (route !== undefined) {
    const [xAt, dxAt, maxAt, dyAt] = [x, dx, pooled, grad].map((v) => v.byteOffset);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < ho; i++) {
        const r0 = Math.max(0, i * sh - top);
        const r1 = Math.min(h, i * sh - top + kh);
        for (let j = 0; j < wo; j++) {
          const q0 = Math.max(0, j * sw - left);
          const q1 = Math.min(w, j * sw - left + kw);
          // A window wholly in the padding has nothing to route to.
          if (r1 <= r0 || q1 <= q0) continue;
          const corner = 4 * ((b * h + r0) * w + q0) * c;
          const o = 4 * ((b * ho + i) * wo + j) * c;
          route(xAt + corner, dxAt + corner, maxAt + o, dyAt + o, r1 - r0, q1 - q0, 4 * w * c, c);
        }
      }
    }
    return out;
  }
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      const r0 = Math.max(0, i * sh - top);
      const r1 = Math.min(h, i * sh - top + kh);
      for (let j = 0; j < wo; j++) {
        const q0 = Math.max(0, j * sw - left);
        const q1 = Math.min(w, j * sw - left + kw);
        const o = ((b * ho + i) * wo + j) * c;
        for (let ch = 0; ch < c; ch++) {
          const max = pooled[o + ch];
          if (max === Number.NEGATIVE_INFINITY) continue;
          scan: for (let r = r0; r < r1; r++) {
            for (let q = q0, at = ((b * h + r) * w + q0) * c + ch; q < q1; q++, at += c) {
              if (x[at] === max) {
                dx[at] += grad[o + ch];
                break scan;
              }
            }
          }
        }
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: WASM,
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
