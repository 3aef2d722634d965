// The benchmark's plumbing (the measurement itself takes minutes and runs under `make bench-engine`).
import { parseArgs, replaceSection, table } from './bench';

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

  it('replaces only its own section and keeps the others', () => {
    const doc =
      '# Benchmarks\n\nIntro.\n\n## Search\n\nsearch numbers\n\n## Engine kernels\n\nold table\n\n## Serving\n\nqps\n';
    const out = replaceSection(doc, '## Engine kernels\n\nnew table\n');
    expect(out).toBe(
      '# Benchmarks\n\nIntro.\n\n## Search\n\nsearch numbers\n\n## Engine kernels\n\nnew table\n\n## Serving\n\nqps\n',
    );
    expect(replaceSection(out, '## Engine kernels\n\nnewer\n')).toBe(out.replace('new table', 'newer'));
  });

  it('appends its section when the file has none, and handles it being last', () => {
    expect(replaceSection('# Benchmarks\n\nIntro.\n', '## Engine kernels\n\nt\n')).toBe(
      '# Benchmarks\n\nIntro.\n\n## Engine kernels\n\nt\n',
    );
    expect(replaceSection('# B\n\n## Engine kernels\n\nold\n', '## Engine kernels\n\nnew\n')).toBe(
      '# B\n\n## Engine kernels\n\nnew\n',
    );
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
