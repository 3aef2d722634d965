// The benchmark's plumbing (the measurement itself takes minutes and runs under `make bench-engine`).
import { parseArgs, table } from './engine';

describe('engine benchmark', () => {
  it('parses its flags and rejects unknown ones', () => {
    expect(parseArgs([])).toMatchObject({ quick: false, write: true });
    expect(parseArgs([]).doc).toMatch(/docs[/\\]benchmarks\.md$/);
    expect(parseArgs(['--quick', '--no-write', '--doc', 'x.md'])).toMatchObject({
      quick: true,
      write: false,
    });
    expect(() => parseArgs(['--fast'])).toThrow(/bench: unknown argument "--fast"\nusage:/);
    expect(() => parseArgs(['--doc'])).toThrow(/unknown argument "--doc"/);
  });

  it('prints throughput and the wasm speedup from the times', () => {
    const out = table([
      {
        op: 'conv 3x3',
        input: '64x32x32x16',
        pass: 'fwd+bwd',
        gflop: 0.906,
        ms: { wasm: 45.3, cpu: 60000 },
        error: 2e-7,
      },
      { op: 'conv 3x3', input: '64x16x16x32', pass: 'fwd', gflop: 0.302, ms: { wasm: 10 } },
    ]).split('\n');
    expect(out).toHaveLength(4);
    expect(out[2]).toBe(
      '| conv 3x3 | 64x32x32x16 | fwd+bwd | 0.906 | 45.30 | 20.0 | 60000 | 0.0151 | 1325x | 2.0e-7 |',
    );
    expect(out[3]).toBe('| conv 3x3 | 64x16x16x32 | fwd | 0.302 | 10.00 | 30.2 | - | - | - | - |');
  });
});
