// Thread counts of the wasm engine: parsing, the default, and dividing the cores among engines.
// (Training on 1 and 2 threads is compared in libs/nas/src/wasm-threads.test.ts, one process each.)
import {
  availableCores,
  defaultWasmThreads,
  MAX_WASM_THREADS,
  parseWasmThreads,
  servingWasmThreads,
  wasmThreadsPerEngine,
} from './wasm-threads';

it('parses 1 to 8 and refuses anything else, naming the source and the value', () => {
  expect(parseWasmThreads('1')).toBe(1);
  expect(parseWasmThreads(' 8 ')).toBe(8);
  for (const bad of ['0', '9', '-1', '1.5', 'two', '', ' ', '2e0', '0x2', '99999999999999999999']) {
    expect(() => parseWasmThreads(bad)).toThrow(
      `RNAS_WASM_THREADS: expected an integer in [1, 8] (threads per wasm engine), got ${JSON.stringify(bad)}`,
    );
  }
  expect(() => parseWasmThreads('0', 'wasmThreads')).toThrow(/^wasmThreads: /);
});

it('divides the cores among engines unless RNAS_WASM_THREADS says otherwise', () => {
  expect(wasmThreadsPerEngine(1, {}, 2)).toBe(2);
  expect(wasmThreadsPerEngine(2, {}, 2)).toBe(1);
  expect(wasmThreadsPerEngine(3, {}, 2)).toBe(1);
  expect(wasmThreadsPerEngine(3, {}, 16)).toBe(5);
  expect(wasmThreadsPerEngine(1, {}, 64)).toBe(MAX_WASM_THREADS);
  expect(wasmThreadsPerEngine(0, {}, 4)).toBe(4);
  expect(wasmThreadsPerEngine(4, { RNAS_WASM_THREADS: '3' }, 2)).toBe(3);
  expect(wasmThreadsPerEngine(4, { RNAS_WASM_THREADS: '' }, 8)).toBe(2);
  expect(() => wasmThreadsPerEngine(1, { RNAS_WASM_THREADS: 'all' }, 2)).toThrow(/RNAS_WASM_THREADS.*"all"/);
  expect(defaultWasmThreads({ RNAS_WASM_THREADS: '1' })).toBe(1);
  expect(defaultWasmThreads({})).toBeGreaterThanOrEqual(1);
});

it('takes the cores from RNAS_CPUS (a container limit) when set', () => {
  expect(availableCores({ RNAS_CPUS: '4' })).toBe(4);
  expect(availableCores({})).toBeGreaterThanOrEqual(1);
  expect(wasmThreadsPerEngine(2, { RNAS_CPUS: '6' })).toBe(3);
  expect(wasmThreadsPerEngine(1, { RNAS_CPUS: '64' })).toBe(MAX_WASM_THREADS);
  for (const bad of ['0', '-2', '1.5', '500m', 'lots']) {
    expect(() => availableCores({ RNAS_CPUS: bad })).toThrow(
      `RNAS_CPUS: expected a whole number of cores >= 1, got ${JSON.stringify(bad)}`,
    );
  }
});

it('leaves a serving process one core for requests unless RNAS_WASM_THREADS says otherwise', () => {
  expect(servingWasmThreads({ RNAS_CPUS: '2' })).toBe(1);
  expect(servingWasmThreads({ RNAS_CPUS: '1' })).toBe(1);
  expect(servingWasmThreads({ RNAS_CPUS: '4' })).toBe(3);
  expect(servingWasmThreads({ RNAS_CPUS: '64' })).toBe(MAX_WASM_THREADS);
  expect(servingWasmThreads({ RNAS_CPUS: '2', RNAS_WASM_THREADS: '2' })).toBe(2);
  expect(() => servingWasmThreads({ RNAS_CPUS: 'many' })).toThrow(/RNAS_CPUS.*"many"/);
});
