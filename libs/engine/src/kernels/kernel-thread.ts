// Entry of each kernel thread of kernel-threads.ts: its own instance of simd.ts's module on the
// backend's shared memory, sleeping until the calling thread wakes it for a split call, then claiming chunks.
import { workerData } from 'node:worker_threads';
import { DRIVERS, type DriverId } from './gemm';
import { ALIGN, ARGS, CHUNKS, COUNT, DRIVER, runChunks, SEQ, SLOTS, TOTAL } from './kernel-threads';
import { kernelsOn } from './simd';

const { memory, control, index } = workerData as {
  memory: { buffer: ArrayBufferLike };
  control: SharedArrayBuffer;
  index: number;
};
const kernels = kernelsOn(memory);
const ctl = new Int32Array(control);
const args = new Uint32Array(control);
// Slot 0 is the shared header.
const base = (index + 1) * SLOTS;

let seen = 0;
for (;;) {
  Atomics.wait(ctl, base + SEQ, seen);
  const seq = Atomics.load(ctl, base + SEQ);
  if (seq === seen) continue;
  seen = seq;
  const driver = DRIVERS[ctl[base + DRIVER] as DriverId];
  const operands = args.slice(base + ARGS, base + ARGS + ctl[base + COUNT]);
  runChunks(
    ctl,
    seq,
    (start, end) => {
      if (kernels === null) throw new Error('kernel thread: no WebAssembly SIMD in this thread');
      driver(kernels, operands, start, end);
    },
    ctl[base + CHUNKS],
    ctl[base + TOTAL],
    ctl[base + ALIGN],
  );
}
