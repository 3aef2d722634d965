// The WebAssembly SIMD ceiling of this machine (libs/engine/src/kernels/ceiling.ts) on one thread
// and on several at once, each on a worker thread of its own so that they run side by side as the
// engine's threads do. networks.ts reads its figures against it.
//
//   npx tsc -b && node bench/dist/ceiling.js [--threads N] [--seconds S]
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { measureSimdCeiling, type SimdCeiling } from '@rnas/engine';

export interface MachineCeiling {
  /** One thread alone. */
  readonly one: SimdCeiling;
  /** `threads` threads at once: the sums of their figures. */
  readonly all: SimdCeiling;
  readonly threads: number;
}

interface Job {
  readonly ceilingSeconds: number;
}

function onWorkers(threads: number, seconds: number): Promise<SimdCeiling[]> {
  return Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<SimdCeiling>((resolve, reject) => {
          const job: Job = { ceilingSeconds: seconds };
          const worker = new Worker(__filename, { workerData: job });
          worker.once('message', (c: SimdCeiling) => resolve(c));
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code !== 0) reject(new Error(`SIMD ceiling: a worker exited with code ${code}`));
          });
        }),
    ),
  );
}

/** The ceiling on one thread, then on `threads` threads at once (`seconds` per measurement). */
export async function machineCeiling(threads: number, seconds: number): Promise<MachineCeiling> {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`SIMD ceiling: threads must be a whole number >= 1, got ${threads}`);
  }
  const [one] = await onWorkers(1, seconds);
  const each = await onWorkers(threads, seconds);
  const sum = (key: 'peakGflops' | 'productGflops') => each.reduce((s, c) => s + c[key], 0);
  return {
    one,
    all: { peakGflops: sum('peakGflops'), productGflops: sum('productGflops'), fused: one.fused },
    threads,
  };
}

/** One line for people: what the ceiling is and how it was measured. */
export function ceilingLine(c: MachineCeiling): string {
  const op = c.one.fused ? 'fused multiply-adds (relaxed SIMD)' : 'multiplies and adds';
  return (
    `WebAssembly SIMD ceiling (\`node bench/dist/ceiling.js\`, 128-bit f32x4 ${op}): the peak loop ` +
    `${c.one.peakGflops.toFixed(1)} GFLOP/s on one thread, ${c.all.peakGflops.toFixed(1)} on ${c.threads} at once; ` +
    `the engine's product kernel on L1-resident blocks ${c.one.productGflops.toFixed(1)} ` +
    `(${((100 * c.one.productGflops) / c.one.peakGflops).toFixed(0)}% of the peak) and ` +
    `${c.all.productGflops.toFixed(1)} on ${c.threads}.`
  );
}

async function main(argv: readonly string[]): Promise<void> {
  let threads = availableParallelism();
  let seconds = 2;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--threads') threads = Number(argv[++i]);
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else
      throw new Error(
        `unknown argument '${a}' (usage: node bench/dist/ceiling.js [--threads N] [--seconds S])`,
      );
  }
  if (!(seconds > 0 && seconds <= 60))
    throw new Error(`--seconds: expected a number in (0, 60], got ${seconds}`);
  console.log(ceilingLine(await machineCeiling(threads, seconds)));
}

if (!isMainThread && (workerData as Partial<Job> | null)?.ceilingSeconds !== undefined) {
  parentPort?.postMessage(measureSimdCeiling((workerData as Job).ceilingSeconds));
} else if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`ceiling: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
