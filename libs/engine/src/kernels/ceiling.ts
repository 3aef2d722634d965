// What one thread's WebAssembly SIMD can do on this machine: the ceiling the wasm engine's figures
// are read against (bench/src/networks.ts prints them next to PyTorch's, which runs native code
// with the CPU's full vector width).
//
// - peak: the peak loop of simd.ts, independent f32x4 multiply-adds on registers and nothing
//   else, the most arithmetic 128-bit SIMD does per second on this thread;
// - product: the engine's own matrix-product kernel (gemmNN, 4x8 blocks) on operands that stay in
//   the L1 cache, the best a real kernel reaches here (it also loads its operands and stores).
import { kernelsOn, scratchMemory, simdPeakLoop } from './simd';

export interface SimdCeiling {
  /** GFLOP/s of the peak loop on this thread (2 FLOPs per multiply-add). */
  readonly peakGflops: number;
  /** GFLOP/s of gemmNN on L1-resident operands on this thread. */
  readonly productGflops: number;
  /** Whether multiply-adds are fused (relaxed SIMD), as the products run them. */
  readonly fused: boolean;
}

/** Runs `call` in rounds of `perRound` calls for about `seconds` after one round of warm-up. */
function callsPerSecond(call: () => void, perRound: number, seconds: number): number {
  for (let i = 0; i < perRound; i++) call();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < perRound; i++) call();
    calls += perRound;
    elapsed = performance.now() - start;
  } while (elapsed < seconds * 1000);
  return (1000 * calls) / elapsed;
}

// The product's operands: a [M, K] times b [K, N] into out [M, N], row-major float32, 16 KiB,
// 16 KiB and 4 KiB: together within any L1 data cache of 48 KiB or more, and within 32 KiB's but
// for the output's stores.
const [M, K, N] = [32, 128, 32];

function productGflops(seconds: number): number {
  const memory = scratchMemory(1);
  const kernels = kernelsOn(memory);
  if (kernels === null) throw new Error('SIMD ceiling: this runtime has no WebAssembly SIMD');
  const [a, b, out] = [0, 4 * M * K, 4 * (M * K + K * N)];
  const heap = new Float32Array(memory.buffer);
  // Small whole numbers: every sum is exact, so the result can be checked exactly.
  for (let i = 0; i < M * K; i++) heap[a / 4 + i] = (i % 7) - 3;
  for (let i = 0; i < K * N; i++) heap[b / 4 + i] = (i % 5) - 2;
  const call = () => kernels.gemmNN(a, b, out, K, 4 * K, 4 * N, 4 * N, M / 4, N / 8);
  const rate = callsPerSecond(call, 200, seconds);
  for (const [row, col] of [
    [0, 0],
    [M - 1, N - 1],
    [5, 17],
  ]) {
    let expected = 0;
    for (let k = 0; k < K; k++) expected += heap[a / 4 + row * K + k] * heap[b / 4 + k * N + col];
    const got = heap[out / 4 + row * N + col];
    if (got !== expected)
      throw new Error(`SIMD ceiling: product [${row}, ${col}] is ${got}, expected ${expected}`);
  }
  return (rate * 2 * M * K * N) / 1e9;
}

/**
 * Measures this thread's ceiling for about `seconds` each (peak loop, then product). Throws where
 * the runtime has no WebAssembly SIMD. Run it on several threads at once for a machine's figure.
 */
export function measureSimdCeiling(seconds = 1): SimdCeiling {
  if (!(seconds > 0)) throw new Error(`SIMD ceiling: seconds must be positive, got ${seconds}`);
  const loop = simdPeakLoop();
  if (loop === null) throw new Error('SIMD ceiling: this runtime has no WebAssembly SIMD');
  const iterations = 100_000;
  const rate = callsPerSecond(() => void loop.run(iterations, 1, 1), 10, seconds);
  return {
    peakGflops: (rate * iterations * loop.flopsPerIteration) / 1e9,
    productGflops: productGflops(seconds),
    fused: loop.fused,
  };
}
