import { findStepTime } from './data-report';

describe('findStepTime', () => {
  it('reads one time from the search-network training-step line at batch 64', () => {
    const doc = '## Networks\n\n- search network (8 cells, 16 ch), training step, batch 64, wasm: 812 ms\n';
    expect(findStepTime(doc)).toEqual({
      line: '- search network (8 cells, 16 ch), training step, batch 64, wasm: 812 ms',
      ms: 812,
    });
    expect(findStepTime('## Networks\n\nsearch train step batch 64: 1.5 s\n')?.ms).toBe(1500);
  });

  it('quotes a line with several times without guessing, and finds nothing elsewhere', () => {
    const row = '| search network | train step | 64 | 800 ms | 1200 ms |';
    expect(findStepTime(`## Networks\n\n${row}\n`)).toEqual({ line: row });
    expect(findStepTime('## Engine\n\nsearch network training step batch 64: 5 ms\n')).toBeUndefined();
  });
});
