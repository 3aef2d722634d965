// Concat and SplitV for the wasm backend along an inner axis (a cell's channel concatenation and
// its gradient). The package copies one innermost run at a time in JavaScript (a typed-array
// view and a copy per run of C values: 65536 runs of 16 channels for a [64, 32, 32, 64] concat),
// 15-60 ms per call at DARTS sizes. With k equal parts whose runs are whole 16-byte vectors, each
// part is one pass of the SIMD kernel copyRuns (simd.ts) between its block and its strided place
// in the whole; other runs take one block copy per part along the outer axis and one transpose
// ([k, A, s] <-> [A, k, s]), two passes. Parts of unequal sizes, outermost axes, and bool and
// string tensors keep the package's Concat, and SplitV slices them part by part (strings: the
// package's SplitV).
import {
  backend_util,
  Concat,
  type ConcatAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  SplitV,
  type SplitVAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composed, composedAll, heapAddresses, PackagedKernel, WASM } from './scope';
import { simdKernels, type SimdKernels } from './simd';

const packaged = { concat: new PackagedKernel(Concat), splitV: new PackagedKernel(SplitV) };

/** Element types of the transposing path (those the package's C++ Transpose handles). */
const NUMERIC = new Set(['float32', 'int32']);

/** Takes over the package's kernel, which still serves the cases the fast path does not cover. */
export function adoptPackagedConcat(config: KernelConfig): void {
  packaged.concat.adopt(config);
}

/** Takes over the package's kernel, which still serves the cases the fast path does not cover. */
export function adoptPackagedSplitV(config: KernelConfig): void {
  packaged.splitV.adopt(config);
}

/** The tensor as [outer, axis, inner] sizes around `axis`. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [util.sizeFromShape(shape.slice(0, axis)), shape[axis], util.sizeFromShape(shape.slice(axis + 1))];
}

/**
 * copyRuns where it applies to k parts of [outer, run] 4-byte values (run a multiple of 4): the
 * kernels, else null.
 */
function runCopier(backend: KernelBackend, run: number): SimdKernels | null {
  return run % 4 === 0 ? simdKernels(backend as BackendWasm) : null;
}

function concat(args: { inputs: TensorInfo[]; backend: KernelBackend; attrs: ConcatAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const fallback = packaged.concat.func();
  const first = inputs[0];
  if (first === undefined) return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  const axis = util.parseAxisParam(attrs.axis, first.shape)[0];
  const [outer, part, inner] = around(first.shape, axis);
  const uniform =
    inputs.length > 1 &&
    outer > 1 &&
    part * inner > 0 &&
    inputs.every(
      (t) =>
        t.dtype === first.dtype &&
        NUMERIC.has(t.dtype) &&
        t.shape.length === first.shape.length &&
        t.shape.every((d, i) => d === first.shape[i]),
    );
  if (!uniform) return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  const k = inputs.length;
  const outShape = [...first.shape];
  outShape[axis] = k * part;
  const run = part * inner;
  const kernels = runCopier(backend, run);
  if (kernels !== null) {
    const out = (backend as BackendWasm).makeOutput(outShape, first.dtype);
    const [outAt, ...at] = heapAddresses(backend as BackendWasm, out, ...inputs);
    at.forEach((src, i) => kernels.copyRuns(src, 4 * run, outAt + 4 * run * i, 4 * run * k, outer, run / 4));
    return out;
  }
  return composed(backend, (s) => {
    // [k, outer, part*inner]: each input is one contiguous block of it.
    const stacked = s.runFunc(
      fallback,
      Concat,
      inputs.map((t) => s.reshape(t, [1, outer * part * inner])),
      { axis: 0 },
    );
    const interleaved = s.transpose(s.reshape(stacked, [k, outer, part * inner]), [1, 0, 2]);
    return s.reshape(interleaved, outShape);
  });
}

function splitV(args: {
  inputs: { x: TensorInfo };
  backend: KernelBackend;
  attrs: SplitVAttrs;
}): TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const fallback = packaged.splitV.func();
  const axis = util.parseAxisParam(attrs.axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x, attrs.numOrSizeSplits, axis);
  const [outer, , inner] = around(x.shape, axis);
  const part = sizes[0];
  const uniform =
    sizes.length > 1 &&
    outer > 1 &&
    part * inner > 0 &&
    NUMERIC.has(x.dtype) &&
    sizes.every((n) => n === part);
  if (x.dtype === 'string') return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo[];
  if (!uniform) {
    // One Slice per part, this backend's (the package's SplitV copies the whole input per part).
    let begin = 0;
    return composedAll(backend, (s) =>
      sizes.map((n) => {
        const start = x.shape.map((_, d) => (d === axis ? begin : 0));
        const size = x.shape.map((dim, d) => (d === axis ? n : dim));
        begin += n;
        return s.run('Slice', { x }, { begin: start, size });
      }),
    );
  }
  const k = sizes.length;
  const outShape = [...x.shape];
  outShape[axis] = part;
  const run = part * inner;
  const kernels = runCopier(backend, run);
  if (kernels !== null) {
    const wasm = backend as BackendWasm;
    const outs = sizes.map(() => wasm.makeOutput(outShape, x.dtype));
    const [xAt, ...at] = heapAddresses(wasm, x, ...outs);
    at.forEach((dst, i) => kernels.copyRuns(xAt + 4 * run * i, 4 * run * k, dst, 4 * run, outer, run / 4));
    return outs;
  }
  return composedAll(backend, (s) => {
    // [k, outer, part*inner]: each output is one contiguous block of it.
    const grouped = s.transpose(s.reshape(x, [outer, k, part * inner]), [1, 0, 2]);
    return sizes.map((_, i) =>
      s.reshape(
        s.run('Slice', { x: grouped }, { begin: [i, 0, 0], size: [1, outer, part * inner] }),
        outShape,
      ),
    );
  });
}

export const concatConfig: KernelConfig = {
  kernelName: Concat,
  backendName: WASM,
  kernelFunc: concat as unknown as KernelFunc,
};

export const splitVConfig: KernelConfig = {
  kernelName: SplitV,
  backendName: WASM,
  kernelFunc: splitV as unknown as KernelFunc,
};
