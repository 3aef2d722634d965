// The arithmetic and markdown of the serving benchmark, apart from the run so that it is tested.

/** The value below which `p` percent of `sorted` (ascending) lie, by nearest rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface LoadResult {
  /** What the clients call: `Classify` (PNG), `ModelInfer BYTES` (PNG) or `ModelInfer FP32` (raw tensor). */
  rpc: string;
  clients: number;
  batching: boolean;
  /** Classify calls answered OK per second. */
  throughput: number;
  /** Milliseconds, of the OK calls. */
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  /** Images per forward pass on the server, from its batch-size histogram. */
  meanBatch: number;
  /** Images per second of in-process forward passes at a batch size equal to `clients`, measured in between. */
  inProcess: number;
  /** CPU milliseconds per call of the service process (every thread, the compute worker's included). */
  serverCpuMs: number;
  /** CPU milliseconds per call of the client process. */
  clientCpuMs: number;
}

/** Service throughput over the in-process throughput at the same batch size. */
export function ratio(service: number, inProcess: number): number {
  return inProcess > 0 ? service / inProcess : NaN;
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/**
 * One row per client count and batching mode, with the in-process throughput at the batch size
 * equal to the client count beside it.
 */
export function resultsTable(results: readonly LoadResult[]): string {
  const rows = [
    '| RPC | dynamic batching | clients | images/s | p50 ms | p95 ms | p99 ms | mean batch | errors | service CPU ms/call | client CPU ms/call | in-process images/s (same batch) | service / in-process |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const local = r.inProcess;
    rows.push(
      `| ${r.rpc} | ${r.batching ? 'on' : 'off'} | ${r.clients} | ${fixed(r.throughput, 1)} | ${fixed(r.p50, 1)} | ` +
        `${fixed(r.p95, 1)} | ${fixed(r.p99, 1)} | ${fixed(r.meanBatch, 1)} | ${r.errors} | ` +
        `${fixed(r.serverCpuMs, 2)} | ${fixed(r.clientCpuMs, 2)} | ${fixed(local, 1)} | ` +
        `${fixed(100 * ratio(r.throughput, local), 0)}% |`,
    );
  }
  return rows.join('\n');
}
