// Engine benchmark (`make bench-engine`): forward and forward+backward time and throughput of the
// convolutions a DARTS network spends its time in, at DARTS sizes, on the wasm and cpu backends;
// prints a table and writes it to the "Engine kernels" section of docs/benchmarks.md.
//
// The kernels are run directly (forward, input gradient, filter gradient), so the numbers are the
// kernels' own, without the tape. Every wasm output is checked against cpu's on the same inputs.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import type { NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';
import { initBackend, tf } from '@rnas/engine';
import { BENCHMARKS_DOC, writeDocSection } from './docs-section';

const BATCH = 64;
const SIZES = [
  { hw: 32, c: 16 },
  { hw: 16, c: 32 },
  { hw: 8, c: 64 },
] as const;
const BACKENDS = ['wasm', 'cpu'] as const;
type Backend = (typeof BACKENDS)[number];
const SECTION = 'Engine kernels';
const REQUIRED_SPEEDUP = 50;

interface Options {
  quick: boolean;
  write: boolean;
  doc: string;
}

const USAGE = `usage: node bench/dist/engine.js [--quick] [--no-write] [--doc PATH]
  --quick      3 wasm runs instead of 10, and cpu only at 64x32x32x16 (cpu takes minutes)
  --no-write   print the table only; leave docs/benchmarks.md alone
  --doc PATH   the markdown file to update (default: docs/benchmarks.md of the repository)`;

export function parseArgs(argv: readonly string[]): Options {
  const options: Options = { quick: false, write: true, doc: BENCHMARKS_DOC };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--no-write') options.write = false;
    else if (arg === '--doc' && i + 1 < argv.length) options.doc = resolve(argv[++i]);
    else throw new Error(`bench: unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  return options;
}

/** One benchmarked layer: how to build its operands and which kernels its passes run. */
interface Op {
  name: string;
  /** Multiply-adds of the forward pass for one NHWC input with C channels in and out. */
  macs(hw: number, c: number): number;
  shapes(hw: number, c: number): { x: number[]; w: number[]; y: number[] };
  forward(x: Tensor, w: Tensor): KernelCall;
  /** The gradient kernels: input gradient and weight gradient. */
  backward(x: Tensor, w: Tensor, dy: Tensor): KernelCall[];
}

interface KernelCall {
  kernel: string;
  inputs: Record<string, Tensor>;
  attrs: NamedAttrMap;
}

function conv(k: number): Op {
  const pad = k >> 1;
  return {
    name: `conv ${k}x${k}`,
    macs: (hw, c) => BATCH * hw * hw * c * c * k * k,
    shapes: (hw, c) => ({ x: [BATCH, hw, hw, c], w: [k, k, c, c], y: [BATCH, hw, hw, c] }),
    forward: (x, w) => ({
      kernel: 'Conv2D',
      inputs: { x, filter: w },
      attrs: { strides: 1, pad, dataFormat: 'NHWC', dilations: 1 },
    }),
    backward: (x, w, dy): KernelCall[] => [
      {
        kernel: 'Conv2DBackpropInput',
        inputs: { dy, filter: w },
        attrs: { strides: 1, pad, dataFormat: 'NHWC', inputShape: x.shape },
      },
      {
        kernel: 'Conv2DBackpropFilter',
        inputs: { x, dy },
        attrs: { strides: 1, pad, dataFormat: 'NHWC', filterShape: w.shape },
      },
    ],
  };
}

function depthwise(k: number): Op {
  const pad = k >> 1;
  return {
    name: `depthwise ${k}x${k}`,
    macs: (hw, c) => BATCH * hw * hw * c * k * k,
    shapes: (hw, c) => ({ x: [BATCH, hw, hw, c], w: [k, k, c, 1], y: [BATCH, hw, hw, c] }),
    forward: (x, w) => ({
      kernel: 'DepthwiseConv2dNative',
      inputs: { x, filter: w },
      attrs: { strides: 1, pad, dilations: 1 },
    }),
    backward: (x, w, dy): KernelCall[] => [
      {
        kernel: 'DepthwiseConv2dNativeBackpropInput',
        inputs: { dy, filter: w },
        attrs: { strides: 1, pad, dilations: 1, inputShape: x.shape },
      },
      {
        kernel: 'DepthwiseConv2dNativeBackpropFilter',
        inputs: { x, dy },
        attrs: { strides: 1, pad, dilations: 1, filterShape: w.shape },
      },
    ],
  };
}

/** The 1x1 convolution as the nas library runs it: a matrix product over all pixels. */
const matMul1x1: Op = {
  name: 'conv 1x1 as matMul',
  macs: (hw, c) => BATCH * hw * hw * c * c,
  shapes: (hw, c) => ({ x: [BATCH * hw * hw, c], w: [c, c], y: [BATCH * hw * hw, c] }),
  forward: (x, w) => ({
    kernel: 'BatchMatMul',
    inputs: { a: x, b: w },
    attrs: { transposeA: false, transposeB: false },
  }),
  backward: (x, w, dy) => [
    { kernel: 'BatchMatMul', inputs: { a: dy, b: w }, attrs: { transposeA: false, transposeB: true } },
    { kernel: 'BatchMatMul', inputs: { a: x, b: dy }, attrs: { transposeA: true, transposeB: false } },
  ],
};

const OPS: readonly Op[] = [conv(3), depthwise(3), depthwise(5), conv(1), matMul1x1];

/** Best time of each kernel over the runs, and the outputs of the last run. */
interface Measurement {
  forwardMs: number;
  backwardMs: number[];
  outputs: Float32Array[];
}

function randomData(shape: number[], seed: number): Float32Array {
  let a = seed >>> 0;
  const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
  for (let i = 0; i < data.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    data[i] = a / 2147483648 - 1;
  }
  return data;
}

async function measure(backend: Backend, op: Op, hw: number, c: number, runs: number): Promise<Measurement> {
  await initBackend(backend);
  const shapes = op.shapes(hw, c);
  const [x, w, dy] = [shapes.x, shapes.w, shapes.y].map((shape, i) =>
    tf.tensor(randomData(shape, i + 1), shape),
  );
  const calls = [op.forward(x, w), ...op.backward(x, w, dy)];
  const best = calls.map(() => Infinity);
  const outputs: Float32Array[] = [];
  // wasm builds its XNNPACK operators on the first call: a warm-up run keeps that out of the
  // numbers. The cpu backend has nothing to warm up and takes minutes per run.
  for (let run = backend === 'wasm' ? -1 : 0; run < runs; run++) {
    calls.forEach((call, i) => {
      const start = performance.now();
      const out = tf.engine().runKernel(call.kernel, call.inputs, call.attrs) as Tensor;
      const values = out.dataSync() as Float32Array;
      const ms = performance.now() - start;
      out.dispose();
      if (run >= 0) best[i] = Math.min(best[i], ms);
      if (run === runs - 1) outputs[i] = values;
    });
  }
  tf.dispose([x, w, dy]);
  return { forwardMs: best[0], backwardMs: best.slice(1), outputs };
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

interface Row {
  op: string;
  input: string;
  pass: 'fwd' | 'fwd+bwd';
  gflop: number;
  ms: Partial<Record<Backend, number>>;
  error?: number;
}

function rowsFor(op: Op, hw: number, c: number, m: Partial<Record<Backend, Measurement>>): Row[] {
  const input = `${BATCH}x${hw}x${hw}x${c}`;
  const forwardGflop = (2 * op.macs(hw, c)) / 1e9;
  const pick = (f: (x: Measurement) => number) =>
    Object.fromEntries(Object.entries(m).map(([b, x]) => [b, f(x)])) as Partial<Record<Backend, number>>;
  const errors = (from: number, to: number) =>
    m.wasm && m.cpu
      ? Math.max(...m.wasm.outputs.slice(from, to).map((o, i) => relativeError(o, m.cpu!.outputs[from + i])))
      : undefined;
  return [
    {
      op: op.name,
      input,
      pass: 'fwd',
      gflop: forwardGflop,
      ms: pick((x) => x.forwardMs),
      error: errors(0, 1),
    },
    {
      op: op.name,
      input,
      pass: 'fwd+bwd',
      // Each gradient (input and weights) costs what the forward pass does.
      gflop: 3 * forwardGflop,
      ms: pick((x) => x.forwardMs + x.backwardMs.reduce((a, b) => a + b, 0)),
      error: errors(0, 3),
    },
  ];
}

function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(2);
}

function formatRate(gflop: number, ms: number | undefined): string {
  if (ms === undefined) return '-';
  const rate = gflop / (ms / 1000);
  return rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3);
}

export function table(rows: readonly Row[]): string {
  const header =
    '| op | input (NxHxWxC) | pass | GFLOP | wasm ms | wasm GFLOP/s | cpu ms | cpu GFLOP/s | wasm speedup | rel. error wasm vs cpu |';
  const rule = '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const lines = rows.map((r) => {
    const speedup =
      r.ms.wasm !== undefined && r.ms.cpu !== undefined ? `${(r.ms.cpu / r.ms.wasm).toFixed(0)}x` : '-';
    return (
      `| ${r.op} | ${r.input} | ${r.pass} | ${r.gflop.toFixed(3)} | ${formatMs(r.ms.wasm)} | ` +
      `${formatRate(r.gflop, r.ms.wasm)} | ${formatMs(r.ms.cpu)} | ${formatRate(r.gflop, r.ms.cpu)} | ${speedup} | ` +
      `${r.error === undefined ? '-' : r.error.toExponential(1)} |`
    );
  });
  return [header, rule, ...lines].join('\n');
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // Not Linux: fall back to what Node reports.
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const wasmRuns = options.quick ? 3 : 10;
  const rows: Row[] = [];
  let headline: { wasm: number; cpu: number } | undefined;
  const began = performance.now();
  for (const op of OPS) {
    for (const { hw, c } of SIZES) {
      const m: Partial<Record<Backend, Measurement>> = {};
      for (const backend of BACKENDS) {
        if (backend === 'cpu' && options.quick && hw !== 32) continue;
        process.stderr.write(`bench: ${op.name} ${BATCH}x${hw}x${hw}x${c} on ${backend}...\n`);
        m[backend] = await measure(backend, op, hw, c, backend === 'wasm' ? wasmRuns : 1);
      }
      const opRows = rowsFor(op, hw, c, m);
      rows.push(...opRows);
      if (op.name === 'conv 3x3' && hw === 32) {
        const full = opRows[1].ms;
        if (full.wasm !== undefined && full.cpu !== undefined) headline = { wasm: full.wasm, cpu: full.cpu };
      }
    }
  }
  const { threads } = await initBackend('wasm');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const date = new Date().toISOString().slice(0, 10);
  const command = options.quick ? 'node bench/dist/engine.js --quick' : 'make bench-engine';
  const speedup = headline === undefined ? NaN : headline.cpu / headline.wasm;
  const verdict =
    `conv 3x3 forward+backward at ${BATCH}x32x32, 16 to 16 channels: wasm ${formatMs(headline?.wasm)} ms, ` +
    `cpu ${formatMs(headline?.cpu)} ms, ${speedup.toFixed(0)}x (required: at least ${REQUIRED_SPEEDUP}x)`;
  const worstError = Math.max(...rows.map((r) => r.error ?? 0));
  const body = [
    `Command: \`${command}\`, ${date}.`,
    `Machine: ${cpuModel()}, ${cpus().length} cores; Node ${process.version}, TensorFlow.js ${tf.version_core}; ` +
      `wasm backend with SIMD ${simd ? 'on' : 'off'}, ${threads === 1 ? 'one thread' : `${threads} threads`} (\`RNAS_WASM_THREADS\`, default the cores).`,
    '',
    `Batch ${BATCH}, stride 1, padding k/2. "fwd" is the forward kernel; "fwd+bwd" adds the input- and ` +
      `weight-gradient kernels (3x the forward FLOPs, 2 FLOPs per multiply-add). Times are the best of ` +
      `${wasmRuns} runs after a warm-up on wasm and of 1 run on cpu (which takes minutes)` +
      `${options.quick ? '; --quick runs cpu at 64x32x32x16 only' : ''}. The last column compares the ` +
      `outputs of the two backends on the same inputs.`,
    '',
    table(rows),
    '',
    `${verdict}. Largest relative difference between wasm and cpu outputs: ${worstError.toExponential(1)}. ` +
      `Total benchmark time ${((performance.now() - began) / 1000).toFixed(0)} s.`,
    '',
  ].join('\n');
  process.stdout.write(`## ${SECTION}\n\n${body}\n`);
  if (options.write) {
    await writeDocSection(SECTION, body, options.doc);
    process.stderr.write(`bench: wrote the "${SECTION}" section of ${options.doc}\n`);
  }
  if (!(speedup >= REQUIRED_SPEEDUP) || !(worstError < 1e-4)) {
    process.stderr.write(`bench: FAILED: ${verdict}; largest relative error ${worstError}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
