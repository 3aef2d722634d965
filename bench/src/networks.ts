// Network benchmark: inference-forward and training-step images per second of the search network
// (8 cells, 16 channels) and the evaluation network (20 cells, 36 channels) on 32x32x3 images, per
// backend. Prints a table and writes the "Networks" section of docs/benchmarks.md.
//
//   npx tsc -b && node bench/dist/networks.js [--backends wasm,cpu] [--seconds 20] [--no-write]
import { cpus, loadavg, totalmem } from 'node:os';
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
import { BENCHMARKS_DOC, writeDocSection } from './docs-section';

interface Row {
  readonly network: 'search' | 'evaluation';
  readonly backend: BackendName;
  readonly mode: 'forward' | 'train step';
  readonly batch: number;
}

/**
 * What runs where. The evaluation network trains at batch 16 on wasm, whose training step holds
 * about 1.6 GiB of activations (32 images would recompute, to stay within the 4 GiB wasm heap).
 * The cpu backend is only timed on the small network, and trains at batch 8 (minutes per step).
 */
const ROWS: readonly Row[] = [
  { network: 'search', backend: 'wasm', mode: 'forward', batch: 64 },
  { network: 'search', backend: 'wasm', mode: 'train step', batch: 64 },
  { network: 'evaluation', backend: 'wasm', mode: 'forward', batch: 64 },
  { network: 'evaluation', backend: 'wasm', mode: 'train step', batch: 16 },
  { network: 'search', backend: 'cpu', mode: 'forward', batch: 64 },
  { network: 'search', backend: 'cpu', mode: 'train step', batch: 8 },
];

const SHAPES = { search: { channels: 16, layers: 8 }, evaluation: { channels: 36, layers: 20 } } as const;

interface Result {
  readonly row: Row;
  /** Train steps: whether the step recomputed edge ops in its backward pass (its default). */
  readonly recompute: boolean | null;
  readonly imagesPerSecond: number;
  readonly msPerBatch: number;
  readonly iterations: number;
}

function parseArgs(argv: readonly string[]): { backends: BackendName[]; seconds: number; write: boolean } {
  let backends: BackendName[] = ['wasm', 'cpu'];
  let seconds = 20;
  let write = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backends') backends = (argv[++i] ?? '').split(',') as BackendName[];
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--no-write') write = false;
    else throw new Error(`network-bench: unknown argument '${a}'`);
  }
  if (!(seconds > 0)) throw new Error(`network-bench: --seconds must be positive, got ${seconds}`);
  return { backends, seconds, write };
}

/** Times `step` after one warm-up run: repeats until `seconds` have passed (at least once). */
function time(step: () => void, seconds: number): { ms: number; iterations: number } {
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
  await initBackend(row.backend);
  const network = new Network({
    variant: 'cifar',
    genotype: getPublishedGenotype('DARTS_V2'),
    ...SHAPES[row.network],
    classes: 10,
    inChannels: 3,
    auxiliary: false,
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
    return { row, recompute, imagesPerSecond: (1000 * row.batch) / ms, msPerBatch: ms, iterations };
  } finally {
    tf.dispose([images, labels]);
    sgd.dispose();
    disposeParams(params);
  }
}

function table(results: readonly Result[]): string {
  const lines = [
    '| network | backend | pass | batch | recompute | images/s | ms/batch | timed batches |',
    '| --- | --- | --- | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const { row, recompute, imagesPerSecond, msPerBatch, iterations } of results) {
    const { channels, layers } = SHAPES[row.network];
    const rec = recompute === null ? '-' : recompute ? 'yes' : 'no';
    lines.push(
      `| ${row.network} (${layers} cells, ${channels} channels) | ${row.backend} | ${row.mode} | ${row.batch} | ` +
        `${rec} | ${imagesPerSecond.toFixed(1)} | ${msPerBatch.toFixed(0)} | ${iterations} |`,
    );
  }
  return lines.join('\n');
}

const SECTION = 'Networks';

function section(results: readonly Result[], command: string, load: number[]): string {
  const cpu = cpus();
  return [
    `Command: \`${command}\`. Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}; ` +
      `load average at the start ${load.map((l) => l.toFixed(1)).join(' / ')} (the machine was shared).`,
    '',
    'DARTS_V2 cells, CIFAR network, 32x32x3 images, 10 classes, no auxiliary head. "forward" is the ' +
      'inference pass (running statistics), "train step" is `trainStep`: training-mode forward, ' +
      'cross-entropy, gradients, running-statistics update and SGD (momentum 0.9, weight decay 3e-4, ' +
      'clip 5), with its default gradient checkpointing: edge ops are recomputed in the backward pass ' +
      "only when the batch's activations would take more than `RECOMPUTE_ABOVE_BYTES` (2.25 GiB, to stay " +
      'within the 4 GiB wasm heap; the "recompute" column). The wasm backend runs one thread. One ' +
      'untimed warm-up batch precedes the timed ones.',
    '',
    table(results),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const load = loadavg();
  const results: Result[] = [];
  for (const row of ROWS.filter((r) => args.backends.includes(r.backend))) {
    const r = await measure(row, args.seconds);
    results.push(r);
    console.log(
      `${row.network} ${row.backend} ${row.mode} batch ${row.batch}: ${r.imagesPerSecond.toFixed(1)} images/s ` +
        `(${r.msPerBatch.toFixed(0)} ms/batch, ${r.iterations} timed)`,
    );
  }
  console.log(`\n${table(results)}`);
  if (args.write) {
    const command = `npx tsc -b && node bench/dist/networks.js ${process.argv.slice(2).join(' ')}`.trim();
    await writeDocSection(SECTION, section(results, command, load));
    console.log(`\nwritten to ${BENCHMARKS_DOC}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`network-bench: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
