// Entry of each kernel thread of kernel-threads.ts: its own instance of simd.ts's module on the
// backend's shared memory, sleeping until the calling thread hands it a share of a product.
import { workerData } from 'node:worker_threads';
import { DRIVERS, type DriverId } from './gemm';
import { ARGS, COUNT, DONE, DRIVER, END, FAILED, SEQ, SLOTS, START } from './kernel-threads';
import { kernelsOn } from './simd';

const { memory, control, index } = workerData as {
  memory: { buffer: ArrayBufferLike };
  control: SharedArrayBuffer;
  index: number;
};
const kernels = kernelsOn(memory);
const ctl = new Int32Array(control);
const args = new Uint32Array(control);
const base = index * SLOTS;

let seen = 0;
for (;;) {
  Atomics.wait(ctl, base + SEQ, seen);
  const seq = Atomics.load(ctl, base + SEQ);
  if (seq === seen) continue;
  seen = seq;
  const driver = ctl[base + DRIVER];
  try {
    if (kernels === null) throw new Error('kernel thread: no WebAssembly SIMD in this thread');
    const count = ctl[base + COUNT];
    DRIVERS[driver as DriverId](
      kernels,
      args.slice(base + ARGS, base + ARGS + count),
      ctl[base + START],
      ctl[base + END],
    );
    ctl[base + FAILED] = 0;
  } catch (error) {
    ctl[base + FAILED] = 1;
    process.stderr.write(`kernel thread ${index}: ${String(error)}\n`);
  }
  Atomics.store(ctl, base + DONE, seq);
  Atomics.notify(ctl, base + DONE);
}
