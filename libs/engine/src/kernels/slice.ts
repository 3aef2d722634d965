// Slice for the wasm backend. The package's kernel first copies the whole input out of the wasm
// heap (readSync) and then makes a typed-array view per innermost run: 3-15 ms for a contiguous
// quarter of a [4, 65536, 16] tensor, which is one 1 MiB block copy. This one copies within the
// heap: a contiguous slice is one block move, any other slice one move per innermost run (or a
// short loop for runs of a few values, cheaper than a call). Strings keep the package's kernel.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  type backend_util,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  Slice,
  type SliceAttrs,
  slice_util,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { PackagedKernel, WASM } from './scope';

const packaged = new PackagedKernel(Slice);

/** Takes over the package's kernel, which still serves string tensors. */
export function adoptPackagedSlice(config: KernelConfig): void {
  packaged.adopt(config);
}

/** Runs of at most this many values are copied value by value rather than with copyWithin. */
const SHORT_RUN = 8;

function slice(args: { inputs: { x: TensorInfo }; backend: KernelBackend; attrs: SliceAttrs }): TensorInfo {
  const { inputs, attrs } = args;
  const { x } = inputs;
  if (x.dtype === 'string') return packaged.run(args);
  const backend = args.backend as BackendWasm;
  const [begin, size] = slice_util.parseSliceParams(x, attrs.begin, attrs.size);
  slice_util.assertParamsValid(x, begin, size);
  const out = backend.makeOutput(size, x.dtype);
  const count = util.sizeFromShape(size);
  if (count === 0) return out;
  // Views are taken after the output exists: allocating can grow the heap and detach older ones.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const strides = util.computeStrides(x.shape);
  if (slice_util.isSliceContinous(x.shape, begin, size)) {
    const offset = slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(offset, offset + count));
    return out;
  }
  const heap = wholeHeap(src);
  const srcBase = src.byteOffset / src.BYTES_PER_ELEMENT;
  const dstBase = dst.byteOffset / dst.BYTES_PER_ELEMENT;
  const rank = x.shape.length;
  const run = size[rank - 1];
  const runs = count / run;
  // An odometer over every axis but the last: the source offset of each run in turn.
  const index = new Array<number>(rank - 1).fill(0);
  let from = srcBase + slice_util.computeFlatOffset(begin, strides);
  for (let r = 0, to = dstBase; r < runs; r++, to += run) {
    if (run <= SHORT_RUN) {
      for (let i = 0; i < run; i++) heap[to + i] = heap[from + i];
    } else {
      heap.copyWithin(to, from, from + run);
    }
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      from += strides[axis];
      if (index[axis] < size[axis]) break;
      from -= index[axis] * strides[axis];
      index[axis] = 0;
    }
  }
  return out;
}

/** A view of the whole heap in the element type of `view`, so that runs move with copyWithin. */
function wholeHeap(view: backend_util.TypedArray): Float32Array | Int32Array | Uint8Array {
  if (view instanceof Float32Array) return new Float32Array(view.buffer);
  if (view instanceof Int32Array) return new Int32Array(view.buffer);
  if (view instanceof Uint8Array) return new Uint8Array(view.buffer);
  throw new Error(`${Slice} (wasm): unsupported element type ${Object.prototype.toString.call(view)}`);
}

export const sliceConfig: KernelConfig = {
  kernelName: Slice,
  backendName: WASM,
  kernelFunc: slice as unknown as KernelFunc,
};
