// The network benchmark's arithmetic: FLOPs per image as PyTorch's are counted, and the table's
// GFLOP/s and shares of the WebAssembly SIMD peak. The ceiling itself runs on worker threads of
// the compiled script (bench/dist/ceiling.js: `make test` builds it first).
import * as path from 'node:path';
import { getPublishedGenotype, Network } from '@rnas/nas';
import type { MachineCeiling } from './ceiling';
import { flopsPerImage, table, type Result } from './networks';

function network(channels: number, layers: number, auxiliary = false): Network {
  return new Network({
    variant: 'cifar',
    genotype: getPublishedGenotype('DARTS_V2'),
    channels,
    layers,
    classes: 10,
    inChannels: 3,
    auxiliary,
  });
}

describe('flopsPerImage', () => {
  // The multiply-adds of the convolutions and linear layers that forward hooks count on the
  // reference's model.NetworkCIFAR (DARTS_V2, 32x32x3, no auxiliary head): 43,444,736 for 8 cells
  // of 16 channels, 528,359,040 for 20 cells of 36 (the "528M" the DARTS papers give).
  it.each([
    [16, 8, 43_444_736],
    [36, 20, 528_359_040],
  ])('counts 2 FLOPs per multiply-add of the reference for %i channels, %i cells', (c, l, macs) => {
    expect(flopsPerImage(network(c, l), 'forward', false)).toBe(2 * macs);
    expect(flopsPerImage(network(c, l), 'train step', false)).toBe(6 * macs);
  });

  it("adds the auxiliary head's multiply-adds only for a row with the head", () => {
    const withHead = network(36, 20, true);
    const { auxiliaryMacs } = withHead.trace(32, 32);
    expect(auxiliaryMacs).toBeGreaterThan(0);
    expect(flopsPerImage(withHead, 'train step', true)).toBe(6 * (528_359_040 + auxiliaryMacs));
    expect(flopsPerImage(withHead, 'forward', false)).toBe(2 * 528_359_040);
  });
});

describe('table', () => {
  const ceiling: MachineCeiling = {
    one: { peakGflops: 50, productGflops: 45, fused: true },
    all: { peakGflops: 96, productGflops: 88, fused: true },
    threads: 2,
  };
  const base = {
    recompute: null,
    msPerBatch: 100,
    iterations: 10,
    flopsPerImage: 1e8,
  };
  const wasm2: Result = {
    ...base,
    row: { network: 'search', backend: 'wasm', mode: 'forward', batch: 64 },
    threads: 2,
    imagesPerSecond: 480,
    torch: 600,
  };
  const wasm1: Result = { ...wasm2, threads: 1, imagesPerSecond: 100, torch: undefined };
  const cpu: Result = {
    ...base,
    row: { network: 'search', backend: 'cpu', mode: 'train step', batch: 8 },
    threads: 1,
    imagesPerSecond: 5,
  };
  const cells = (line: string) =>
    line
      .split('|')
      .slice(1, -1)
      .map((s) => s.trim());

  it("gives GFLOP/s and the share of the row's threads' peak, for us and for PyTorch", () => {
    const lines = table([wasm2, wasm1, cpu], 2, ceiling).split('\n');
    expect(cells(lines[0])).toEqual([
      'network',
      'backend',
      'threads',
      'pass',
      'batch',
      'recompute',
      'images/s',
      'ms/batch',
      'timed batches',
      'GFLOP/s',
      'of wasm peak',
      'PyTorch, 2 threads, images/s',
      'ratio',
      'PyTorch GFLOP/s',
      'PyTorch, of wasm peak',
    ]);
    expect(cells(lines[1]).length).toBe(cells(lines[0]).length);
    // 480 images/s x 0.1 GFLOP = 48 GFLOP/s = 50% of the 2-thread peak (96); PyTorch 60 = 63%.
    expect(cells(lines[2]).slice(9)).toEqual(['48.0', '50%', '600.0', '0.80', '60.0', '63%']);
    // One thread: against one thread's peak (50), no PyTorch figure.
    expect(cells(lines[3]).slice(9)).toEqual(['10.0', '20%', '-', '-', '-', '-']);
    // cpu: no SIMD peak to read it against.
    expect(cells(lines[4]).slice(9)).toEqual(['0.5', '-', '-', '-', '-', '-']);
  });

  it('leaves the PyTorch columns out when PyTorch was not run, and the shares without a ceiling', () => {
    const lines = table([{ ...wasm2, torch: undefined }], null, null).split('\n');
    expect(cells(lines[0]).slice(-2)).toEqual(['GFLOP/s', 'of wasm peak']);
    expect(cells(lines[2]).slice(9)).toEqual(['48.0', '-']);
  });
});

describe('machineCeiling (compiled)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const compiled = require(path.join(__dirname, '..', 'dist', 'ceiling.js')) as typeof import('./ceiling');

  it('measures one thread, then every thread at once, and sums the latter', async () => {
    const c = await compiled.machineCeiling(2, 0.05);
    expect(c.threads).toBe(2);
    for (const g of [c.one.peakGflops, c.one.productGflops, c.all.peakGflops, c.all.productGflops]) {
      expect(Number.isFinite(g)).toBe(true);
      expect(g).toBeGreaterThan(0);
    }
    expect(c.all.fused).toBe(c.one.fused);
    expect(compiled.ceilingLine(c)).toContain(`${c.all.peakGflops.toFixed(1)} on 2 at once`);
  });

  it.each([0, 1.5, -2, Number.NaN])('refuses %p threads, naming the value', async (threads) => {
    await expect(compiled.machineCeiling(threads, 0.05)).rejects.toThrow(
      `threads must be a whole number >= 1, got ${threads}`,
    );
  });
});
