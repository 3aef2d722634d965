import { isWorkerMemory, sumWorkerMemory, workerMemory } from './memory';

describe('worker memory reports', () => {
  it('keep only the exported numbers of what the engine says', () => {
    const engine = { numTensors: 3, numBytes: 120, numDataBuffers: 2, unreliable: true, reasons: ['x'] };
    expect(workerMemory(engine)).toEqual({ numTensors: 3, numBytes: 120, numDataBuffers: 2 });
  });

  it('add up, to zeros for none', () => {
    expect(sumWorkerMemory([])).toEqual({ numTensors: 0, numBytes: 0, numDataBuffers: 0 });
    const reports = new Map([
      ['a', { numTensors: 1, numBytes: 10, numDataBuffers: 1 }],
      ['b', { numTensors: 2, numBytes: 2 ** 40, numDataBuffers: 3 }],
    ]);
    expect(sumWorkerMemory(reports.values())).toEqual({
      numTensors: 3,
      numBytes: 2 ** 40 + 10,
      numDataBuffers: 4,
    });
  });

  it('are recognised only with three finite counts >= 0', () => {
    expect(isWorkerMemory({ numTensors: 0, numBytes: 0, numDataBuffers: 0 })).toBe(true);
    for (const bad of [
      null,
      undefined,
      42,
      'memory',
      [],
      {},
      { numTensors: 1, numBytes: 1 },
      { numTensors: -1, numBytes: 0, numDataBuffers: 0 },
      { numTensors: NaN, numBytes: 0, numDataBuffers: 0 },
      { numTensors: Infinity, numBytes: 0, numDataBuffers: 0 },
      { numTensors: '1', numBytes: 0, numDataBuffers: 0 },
    ]) {
      expect(isWorkerMemory(bad)).toBe(false);
    }
  });
});
