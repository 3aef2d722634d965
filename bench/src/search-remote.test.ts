import { familySum, remoteTable, steadyRate } from './search-remote';

describe('search on evaluator processes: report', () => {
  it('adds a family over its label sets, and leaves out the first generation', () => {
    const text = [
      '# HELP rnas_search_evaluator_bytes_sent_total x',
      'rnas_search_evaluator_bytes_sent_total{evaluator="a"} 100',
      'rnas_search_evaluator_bytes_sent_total{evaluator="b"} 50',
      'rnas_search_evaluator_bytes_sent_totally 7',
    ].join('\n');
    expect(familySum(text, 'rnas_search_evaluator_bytes_sent_total')).toBe(150);
    expect(
      steadyRate([
        { images: 10, durationMs: 100_000 },
        { images: 100, durationMs: 1000 },
        { images: 100, durationMs: 1000 },
      ]),
    ).toBe(100);
    expect(steadyRate([{ images: 50, durationMs: 1000 }])).toBe(50);
    expect(steadyRate([])).toBeNaN();
  });

  it('puts each run beside one evaluator', () => {
    const rows = remoteTable([
      { evaluators: 1, imagesPerSecond: 100, bytesPerPair: 2 ** 20 },
      { evaluators: 2, imagesPerSecond: 180, bytesPerPair: 2 ** 20 },
    ]);
    expect(rows[2]).toBe('| 1 | 100.0 | 1.00x | 1.00 MiB |');
    expect(rows[3]).toBe('| 2 | 180.0 | 1.80x | 1.00 MiB |');
  });
});
