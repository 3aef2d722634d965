import { percentile, ratio, resultsTable } from './serve-report';

describe('bench report', () => {
  it('takes percentiles by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('puts each run beside the in-process throughput measured with it', () => {
    const table = resultsTable([
      {
        rpc: 'Classify',
        clients: 16,
        batching: true,
        throughput: 90,
        p50: 150,
        p95: 200,
        p99: 250,
        errors: 0,
        meanBatch: 15.5,
        inProcess: 100,
        serverCpuMs: 1.234,
        clientCpuMs: 0.5,
      },
      {
        rpc: 'ModelInfer FP32',
        clients: 16,
        batching: false,
        throughput: 30,
        p50: 500,
        p95: 600,
        p99: 700,
        errors: 2,
        meanBatch: 1,
        inProcess: 100,
        serverCpuMs: 1.234,
        clientCpuMs: 0.5,
      },
      {
        rpc: 'ModelInfer BYTES',
        clients: 3,
        batching: true,
        throughput: 10,
        p50: 1,
        p95: 2,
        p99: 3,
        errors: 0,
        meanBatch: 3,
        inProcess: NaN,
        serverCpuMs: 1,
        clientCpuMs: 1,
      },
    ]);
    const lines = table.split('\n');
    expect(lines[2]).toBe(
      '| Classify | on | 16 | 90.0 | 150.0 | 200.0 | 250.0 | 15.5 | 0 | 1.23 | 0.50 | 100.0 | 90% |',
    );
    expect(lines[3]).toBe(
      '| ModelInfer FP32 | off | 16 | 30.0 | 500.0 | 600.0 | 700.0 | 1.0 | 2 | 1.23 | 0.50 | 100.0 | 30% |',
    );
    expect(lines[4]).toBe(
      '| ModelInfer BYTES | on | 3 | 10.0 | 1.0 | 2.0 | 3.0 | 3.0 | 0 | 1.00 | 1.00 | - | -% |',
    );
    expect(ratio(1, 0)).toBeNaN();
  });
});
