// Network benchmark: inference-forward and training-step images per second of the search network
// (8 cells, 16 channels) and the evaluation network (20 cells, 36 channels) on 32x32x3 images, per
// backend, next to the PyTorch reference on the same machine in the same run (torch-reference.ts)
// with the ratio per row, and both as GFLOP/s against the machine's WebAssembly SIMD ceiling
// (ceiling.ts). Prints a table and writes the "Networks" section of docs/benchmarks.md.
//
//   npx tsc -b && node bench/dist/networks.js [--backends wasm,cpu] [--seconds 20] [--no-torch] [--no-write]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { initBackend, tf, type BackendName, type Tensor1D, type Tensor4D } from '@rnas/engine';
import {
  defaultRecompute,
  disposeParams,
  getPublishedGenotype,
  initParams,
  labelsTensor,
  Network,
  Sgd,
  trainStep,
} from '@rnas/nas';
import { ceilingLine, machineCeiling, type MachineCeiling } from './ceiling';
import { BENCHMARKS_DOC, REPO_ROOT, writeDocSection } from './docs-section';
import { torchLocations, torchMissing, torchReference, type TorchFigures } from './torch-reference';

export interface Row {
  readonly network: 'search' | 'evaluation';
  readonly backend: BackendName;
  readonly mode: 'forward' | 'train step';
  readonly batch: number;
  /** The auxiliary head (the paper's evaluation recipe); the PyTorch script times none. */
  readonly auxiliary?: boolean;
  /** Timed next to the PyTorch reference. */
  readonly torch?: boolean;
}

/**
 * What runs where. The wasm rows are the ones compared with PyTorch: the training step at batch 64,
 * and at 96 for the evaluation network (the paper's batch); then the paper's evaluation recipe
 * itself (auxiliary head, weight 0.4), which recomputes edge ops to stay within the 4 GiB wasm heap.
 * The cpu backend is only timed on the small network, and trains at batch 8 (minutes per step).
 */
const ROWS: readonly Row[] = [
  { network: 'search', backend: 'wasm', mode: 'forward', batch: 64, torch: true },
  { network: 'search', backend: 'wasm', mode: 'train step', batch: 64, torch: true },
  { network: 'evaluation', backend: 'wasm', mode: 'forward', batch: 64, torch: true },
  { network: 'evaluation', backend: 'wasm', mode: 'train step', batch: 96, torch: true },
  { network: 'evaluation', backend: 'wasm', mode: 'train step', batch: 96, auxiliary: true },
  { network: 'search', backend: 'cpu', mode: 'forward', batch: 64 },
  { network: 'search', backend: 'cpu', mode: 'train step', batch: 8 },
];

const SHAPES = { search: { channels: 16, layers: 8 }, evaluation: { channels: 36, layers: 20 } } as const;

/**
 * Floating-point operations per image of a row's pass, counted as PyTorch's are: 2 per
 * multiply-add of the convolutions and linear layers (`Network.trace`), 3 times the forward's for
 * a training step (forward, input gradient, weight gradient), whatever the step recomputes.
 */
export function flopsPerImage(network: Network, mode: Row['mode'], auxiliary: boolean): number {
  const { macs, auxiliaryMacs } = network.trace(32, 32);
  const forward = 2 * (macs + (auxiliary ? auxiliaryMacs : 0));
  return mode === 'forward' ? forward : 3 * forward;
}

export interface Result {
  readonly row: Row;
  /** flopsPerImage of the row. */
  readonly flopsPerImage: number;
  /** Train steps: whether the step recomputed edge ops in its backward pass (its default). */
  readonly recompute: boolean | null;
  /** Threads of the engine (wasm: RNAS_WASM_THREADS, default the cores). */
  readonly threads: number;
  readonly imagesPerSecond: number;
  readonly msPerBatch: number;
  readonly iterations: number;
  /** The PyTorch reference's images/s for the same network, pass and batch; undefined if not timed. */
  readonly torch?: number;
}

interface Args {
  backends: BackendName[];
  seconds: number;
  write: boolean;
  torch: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let backends: BackendName[] = ['wasm', 'cpu'];
  let seconds = 20;
  let write = true;
  let torch = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backends') backends = (argv[++i] ?? '').split(',') as BackendName[];
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--no-write') write = false;
    else if (a === '--no-torch') torch = false;
    else throw new Error(`network-bench: unknown argument '${a}'`);
  }
  if (!(seconds > 0)) throw new Error(`network-bench: --seconds must be positive, got ${seconds}`);
  return { backends, seconds, write, torch };
}

/**
 * Times `step` after two warm-up runs (as the PyTorch script does): repeats until `seconds` have
 * passed (at least once).
 */
function time(step: () => void, seconds: number): { ms: number; iterations: number } {
  step();
  step();
  const start = performance.now();
  let iterations = 0;
  do {
    step();
    iterations++;
  } while (performance.now() - start < seconds * 1000);
  return { ms: (performance.now() - start) / iterations, iterations };
}

async function measure(row: Row, seconds: number): Promise<Result> {
  const backend = await initBackend(row.backend);
  const network = new Network({
    variant: 'cifar',
    genotype: getPublishedGenotype('DARTS_V2'),
    ...SHAPES[row.network],
    classes: 10,
    inChannels: 3,
    auxiliary: row.auxiliary === true,
  });
  const params = initParams(network.params, 0);
  const images = tf.randomNormal([row.batch, 32, 32, 3], 0, 1, 'float32', 1) as Tensor4D;
  const labels: Tensor1D = labelsTensor(
    Array.from({ length: row.batch }, (_, i) => i % 10),
    10,
  );
  const sgd = new Sgd({ lr: 0.025, momentum: 0.9, weightDecay: 3e-4, gradClip: 5 });
  const recompute = row.mode === 'forward' ? null : defaultRecompute(network, images);
  try {
    const step =
      row.mode === 'forward'
        ? () => tf.tidy(() => void network.forward(params, images).logits.dataSync())
        : () => trainStep(network, params, images, labels, sgd).logits.dispose();
    const { ms, iterations } = time(step, seconds);
    return {
      row,
      flopsPerImage: flopsPerImage(network, row.mode, row.auxiliary === true),
      recompute,
      threads: backend.threads,
      imagesPerSecond: (1000 * row.batch) / ms,
      msPerBatch: ms,
      iterations,
    };
  } finally {
    tf.dispose([images, labels]);
    sgd.dispose();
    disposeParams(params);
  }
}

function rowName(row: Row): string {
  const { channels, layers } = SHAPES[row.network];
  return `${row.network} (${layers} cells, ${channels} channels${row.auxiliary ? ', auxiliary head' : ''})`;
}

/** The WebAssembly SIMD peak of `threads` engine threads: measured for one and for every core. */
function peakOf(ceiling: MachineCeiling, threads: number): number {
  return threads === ceiling.threads ? ceiling.all.peakGflops : threads * ceiling.one.peakGflops;
}

const percent = (x: number) => `${(100 * x).toFixed(0)}%`;

/**
 * The results as a markdown table: GFLOP/s = images/s x flopsPerImage, and for the wasm rows the
 * share of the SIMD peak of the row's threads that is, for us and for PyTorch's figure.
 */
export function table(
  results: readonly Result[],
  torchThreads: number | null,
  ceiling: MachineCeiling | null,
): string {
  const torch = torchThreads !== null;
  const lines = [
    '| network | backend | threads | pass | batch | recompute | images/s | ms/batch | timed batches | GFLOP/s | of wasm peak |' +
      (torch
        ? ` PyTorch, ${torchThreads} threads, images/s | ratio | PyTorch GFLOP/s | PyTorch, of wasm peak |`
        : ''),
    '| --- | --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |' +
      (torch ? ' ---: | ---: | ---: | ---: |' : ''),
  ];
  for (const r of results) {
    const { row, recompute, threads, imagesPerSecond, msPerBatch, iterations } = r;
    const rec = recompute === null ? '-' : recompute ? 'yes' : 'no';
    const gflops = (imagesPerSecond * r.flopsPerImage) / 1e9;
    const peak = ceiling !== null && row.backend === 'wasm' ? peakOf(ceiling, threads) : null;
    const share = (g: number) => (peak === null ? '-' : percent(g / peak));
    const torchGflops = r.torch === undefined ? 0 : (r.torch * r.flopsPerImage) / 1e9;
    const reference =
      r.torch === undefined
        ? ' - | - | - | - |'
        : ` ${r.torch.toFixed(1)} | ${(imagesPerSecond / r.torch).toFixed(2)} | ${torchGflops.toFixed(1)} | ${share(torchGflops)} |`;
    lines.push(
      `| ${rowName(row)} | ${row.backend} | ${threads} | ${row.mode} | ${row.batch} | ` +
        `${rec} | ${imagesPerSecond.toFixed(1)} | ${msPerBatch.toFixed(0)} | ${iterations} | ` +
        `${gflops.toFixed(1)} | ${share(gflops)} |` +
        (torch ? reference : ''),
    );
  }
  return lines.join('\n');
}

const SECTION = 'Networks';

const run = promisify(execFile);

interface TorchColumn {
  /** Threads PyTorch ran with, or null when the column is left out. */
  readonly threads: number | null;
  /** What was timed, or why the column is left out. */
  readonly note: string;
}

function section(
  results: readonly Result[],
  command: string,
  load: number[],
  torch: TorchColumn,
  ceiling: MachineCeiling | null,
): string {
  const cpu = cpus();
  return [
    `Command: \`${command}\` (what \`make bench-networks\` runs). Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ` +
      `${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
      `${new Date().toISOString().slice(0, 10)}; load average at the start ` +
      `${load.map((l) => l.toFixed(1)).join(' / ')} (the machine was shared).`,
    '',
    'DARTS_V2 cells, CIFAR network, 32x32x3 images, 10 classes. "forward" is the inference pass ' +
      '(running statistics), "train step" is `trainStep`: training-mode forward, cross-entropy, ' +
      'gradients, running-statistics update and SGD (momentum 0.9, weight decay 3e-4, clip 5), with ' +
      'its default gradient checkpointing: edge ops are recomputed in the backward pass only when ' +
      "the batch's activations would take more than `RECOMPUTE_ABOVE_BYTES` (2.25 GiB, to stay within " +
      'the 4 GiB wasm heap; the "recompute" column). "threads": the wasm engine\'s threads ' +
      '(`RNAS_WASM_THREADS`, default the cores). Two untimed warm-up batches precede the timed ones, ' +
      'as in the PyTorch script.',
    '',
    torch.note,
    '',
    'GFLOP/s: images/s times 2 FLOPs per multiply-add of the convolutions and linear layers per image ' +
      '(43.4M multiply-adds for the search network, 528.4M for the evaluation network, as forward hooks ' +
      'count them on the reference\'s modules), times 3 for a training step. "of wasm peak": that over ' +
      'the peak of 128-bit WebAssembly SIMD on the same threads (below). PyTorch runs native code with ' +
      "the CPU's full vector width; its column there says how much of the wasm peak a whole pass, " +
      'memory-bound operations included, would have to sustain to equal it.',
    '',
    ceiling === null ? 'WebAssembly SIMD ceiling: not measured (no wasm rows).' : ceilingLine(ceiling),
    '',
    table(results, torch.threads, ceiling),
    '',
  ].join('\n');
}

/** The PyTorch figures, measured for each (network, batch) right before the first row that needs them. */
interface TorchRun {
  /** False when PyTorch or the reference is missing (or --no-torch): the column is left out. */
  readonly ok: boolean;
  /** The figures for a row (measuring them if this (network, batch) has none yet), or undefined. */
  figure(row: Row): Promise<TorchFigures | undefined>;
  /** What was run, or why the column is left out. */
  note(): string;
}

/**
 * PyTorch timed next to our rows: each (network, batch) just before the rows that compare with it,
 * so that both see the machine in the same minutes (its speed drifts by a third over an hour).
 */
async function torchRun(seconds: number, threads: number, wanted: boolean): Promise<TorchRun> {
  const none = (why: string): TorchRun => ({
    ok: false,
    figure: () => Promise.resolve(undefined),
    note: () => `PyTorch reference column left out: ${why}.`,
  });
  if (!wanted) return none('--no-torch');
  const setup = torchLocations({});
  const missing = await torchMissing(setup);
  if (missing !== null) return none(missing);
  const figures = new Map<string, TorchFigures>();
  let version = '';
  return {
    ok: true,
    async figure(row) {
      if (row.torch !== true) return undefined;
      const key = `${row.network}/${row.batch}`;
      let figure = figures.get(key);
      if (figure === undefined) {
        figure = await torchReference(setup, { ...SHAPES[row.network], batch: row.batch, threads, seconds });
        figures.set(key, figure);
        version = figure.torchVersion;
        console.log(
          `PyTorch ${row.network} batch ${row.batch}: train ${figure.trainImagesPerSecond} images/s, ` +
            `forward ${figure.forwardImagesPerSecond} images/s`,
        );
      }
      return figure;
    },
    note: () =>
      `PyTorch reference: \`${setup.python} ${setup.script} --ref ${setup.ref} --threads ${threads} ` +
      `--seconds ${seconds}\` with the layers, channels and batch of each row (torch ${version}, the authors' ` +
      '`model.NetworkCIFAR`, no auxiliary head, drop path 0), run in the same benchmark run right before ' +
      'the rows of its network and batch; ratio = images/s here / images/s of PyTorch (>= 1 is at least as fast).',
  };
}

/**
 * The cold start of a process: a fresh process (its own engine) times the first three training
 * steps of the search network at batch 64 and reports the wasm heap it grew to, then how long
 * writing that much fresh memory takes, once and again. On a machine where the first write to a
 * page is expensive (a sandboxed kernel), that first touch is most of a first step's extra time.
 */
const COLD = `
const { initBackend, tf } = require('@rnas/engine');
const nas = require('@rnas/nas');
(async () => {
  await initBackend('wasm');
  const network = new nas.Network({ variant: 'cifar', genotype: nas.getPublishedGenotype('DARTS_V2'),
    channels: 16, layers: 8, classes: 10, inChannels: 3, auxiliary: false });
  const params = nas.initParams(network.params, 0);
  const images = tf.randomNormal([64, 32, 32, 3], 0, 1, 'float32', 1);
  const labels = nas.labelsTensor(Array.from({ length: 64 }, (_, i) => i % 10), 10);
  const sgd = new nas.Sgd({ lr: 0.025, momentum: 0.9, weightDecay: 3e-4, gradClip: 5 });
  const steps = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    nas.trainStep(network, params, images, labels, sgd).logits.dispose();
    steps.push(performance.now() - t);
  }
  const heap = tf.backend().wasm.HEAPU8.buffer.byteLength;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
  memory.grow(Math.ceil(heap / 65536));
  const bytes = new Float32Array(memory.buffer);
  let t = performance.now();
  bytes.fill(1);
  const firstTouch = performance.now() - t;
  t = performance.now();
  bytes.fill(2);
  const again = performance.now() - t;
  require('fs').writeFileSync(process.env.COLD_OUT, JSON.stringify({ steps, heap, firstTouch, again }));
  process.exit(0);
})();
`;

interface Cold {
  steps: number[];
  heap: number;
  firstTouch: number;
  again: number;
}

async function coldStart(): Promise<Cold> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rnas-cold-'));
  try {
    const out = path.join(dir, 'cold.json');
    await run(process.execPath, ['-e', COLD], { cwd: REPO_ROOT, env: { ...process.env, COLD_OUT: out } });
    return JSON.parse(await readFile(out, 'utf8')) as Cold;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function coldLine(c: Cold, again: Cold): string {
  const ratio = (x: Cold) => x.steps[0] / Math.min(x.steps[1], x.steps[2]);
  const [first, second, third] = c.steps;
  return (
    `Cold start (a fresh process, search network train step at batch 64): first step ${first.toFixed(0)} ms, ` +
    `then ${second.toFixed(0)} and ${third.toFixed(0)} ms (first = ${ratio(c).toFixed(1)}x warm); the wasm heap grew ` +
    `to ${(c.heap / 2 ** 20).toFixed(0)} MiB, and writing that much fresh memory takes ${c.firstTouch.toFixed(0)} ms here ` +
    `the first time, ${c.again.toFixed(0)} ms the second (the first write to each page is what a first step pays extra). ` +
    `A second fresh process right after, on memory the machine has just handed out and taken back: first step ` +
    `${again.steps[0].toFixed(0)} ms (${ratio(again).toFixed(1)}x warm), fresh memory written in ${again.firstTouch.toFixed(0)} ms.`
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const load = loadavg();
  const rows = ROWS.filter((r) => args.backends.includes(r.backend));
  const torchThreads = availableParallelism();
  const torch = await torchRun(args.seconds, torchThreads, args.torch);
  if (!torch.ok) console.log(torch.note());
  const ceiling = rows.some((r) => r.backend === 'wasm') ? await machineCeiling(torchThreads, 2) : null;
  if (ceiling !== null) console.log(ceilingLine(ceiling));
  const results: Result[] = [];
  for (const row of rows) {
    const figure = await torch.figure(row);
    const measured = await measure(row, args.seconds);
    const reference =
      figure === undefined
        ? undefined
        : row.mode === 'forward'
          ? figure.forwardImagesPerSecond
          : figure.trainImagesPerSecond;
    const r: Result = reference === undefined ? measured : { ...measured, torch: reference };
    results.push(r);
    console.log(
      `${rowName(row)} ${row.backend} (${r.threads} threads) ${row.mode} batch ${row.batch}: ` +
        `${r.imagesPerSecond.toFixed(1)} images/s (${r.msPerBatch.toFixed(0)} ms/batch, ${r.iterations} timed)` +
        (reference === undefined
          ? ''
          : `; PyTorch ${reference.toFixed(1)}, ratio ${(r.imagesPerSecond / reference).toFixed(2)}`),
    );
  }
  const cold = args.backends.includes('wasm') ? coldLine(await coldStart(), await coldStart()) : null;
  if (cold !== null) console.log(cold);
  const column: TorchColumn = { threads: torch.ok ? torchThreads : null, note: torch.note() };
  console.log(`\n${table(results, column.threads, ceiling)}`);
  if (args.write) {
    const command = `npx tsc -b && node bench/dist/networks.js ${process.argv.slice(2).join(' ')}`.trim();
    await writeDocSection(
      SECTION,
      section(results, command, load, column, ceiling) + (cold === null ? '' : `\n${cold}\n`),
    );
    console.log(`\nwritten to ${BENCHMARKS_DOC}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`network-bench: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
