// Training benchmark: one short epoch of `train` (the evaluation recipe) on a demo-sized network
// with Fashion-MNIST and on the section 7 CIFAR network, with the cost of a checkpoint; prints the
// "Training" section of docs/benchmarks.md. Run: `npx tsc -b && node bench/dist/training.js`.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '@rnas/engine';
import { openDataset, type Dataset } from '@rnas/data';
import { getPublishedGenotype, Network } from '@rnas/nas';
import {
  checkpointPath,
  CIFAR_RECIPE,
  train,
  writeTrainingCheckpoint,
  type RecipeInput,
  type TrainSpec,
} from '@rnas/train';

const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

interface Case {
  readonly label: string;
  readonly dataset: () => Promise<Dataset>;
  readonly spec: TrainSpec;
  readonly recipe: RecipeInput;
}

interface Row {
  readonly label: string;
  readonly params: number;
  readonly batch: number;
  readonly trainImages: number;
  readonly trainPerSecond: number;
  readonly evalImages: number;
  readonly evalPerSecond: number;
  readonly checkpointMs: number;
  readonly checkpointMb: number;
  /** Hours for the paper's 600 epochs of 50 000 images at this throughput. */
  readonly fullRecipeHours: number;
}

const CASES: Case[] = [
  {
    label: 'DARTS_V2, 8 cells x 16 channels, Fashion-MNIST 28x28x1',
    dataset: () => openDataset(`fashion-mnist:${FASHION_MNIST_DIR}`, { dataRoots: [FASHION_MNIST_DIR] }),
    spec: { variant: 'cifar', channels: 16, layers: 8, classes: 10, inChannels: 1, auxiliary: false },
    recipe: { epochs: 1, batchSize: 64, trainImages: 1024, evalImages: 1024 },
  },
  {
    // Batch 8: the paper's 96 exhausts the wasm backend's 32-bit heap, and 16 or 32 fit only while
    // the machine has memory to spare.
    label: 'DARTS_V2, 20 cells x 36 channels + auxiliary, 32x32x3 (section 7)',
    dataset: () => openDataset('synthetic:shapes?classes=10&size=32&channels=3&train=32&test=16&seed=1'),
    spec: { variant: 'cifar', channels: 36, layers: 20, classes: 10, inChannels: 3, auxiliary: true },
    recipe: { epochs: 1, batchSize: 8 },
  },
];

async function run(c: Case, dir: string): Promise<Row> {
  const dataset = await c.dataset();
  const genotype = getPublishedGenotype('DARTS_V2');
  const result = await train({ spec: c.spec, genotype, dataset, recipe: { ...c.recipe, seed: 0 } });
  const report = result.history[0];
  const trainSeconds = report.trainImages / report.imagesPerSecond;
  const evalSeconds = report.durationMs / 1000 - trainSeconds;
  // A checkpoint holds the weights and as many momentum values; time writing one of that size.
  const started = performance.now();
  await writeTrainingCheckpoint(dir, {
    fingerprint: {},
    epochsDone: 1,
    rng: { algorithm: 'xoshiro128**', state: [1, 2, 3, 4] },
    history: result.history,
    params: result.weights,
    momentum: result.weights,
  });
  const checkpointMs = performance.now() - started;
  const bytes = (await stat(checkpointPath(dir))).size;
  return {
    label: c.label,
    params: new Network({ ...c.spec, genotype }).countParams(),
    batch: result.recipe.batchSize,
    trainImages: report.trainImages,
    trainPerSecond: report.imagesPerSecond,
    evalImages: report.evalImages,
    evalPerSecond: report.evalImages / evalSeconds,
    checkpointMs,
    checkpointMb: bytes / 2 ** 20,
    fullRecipeHours: (CIFAR_RECIPE.epochs * 50_000) / report.imagesPerSecond / 3600,
  };
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rnas-train-bench-'));
  const rows: Row[] = [];
  try {
    for (const c of CASES) {
      if (c.label.includes('Fashion-MNIST') && !existsSync(FASHION_MNIST_DIR)) {
        console.error(
          `skipping "${c.label}": ${FASHION_MNIST_DIR} is missing (apt install dataset-fashion-mnist)`,
        );
        continue;
      }
      console.error(`running "${c.label}"`);
      rows.push(await run(c, dir));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const f = (v: number, d = 1): string => v.toFixed(d);
  const lines = [
    '## Training',
    '',
    'Command: `npx tsc -b && node bench/dist/training.js` (prints this section).',
    `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, load average ${f(os.loadavg()[0])} at the end, Node ${process.version}; backend ${backend.name}; ${new Date().toISOString().slice(0, 10)}.`,
    '',
    "One epoch of `train` with the section 7 recipe (SGD lr 0.025 cosine, momentum 0.9, weight decay 3e-4, crop + flip + cutout 16, clip 5; drop path is 0 in the first epoch), seed 0. Training images/s is the training steps alone; evaluation is inference-mode loss and accuracy on the test images; the checkpoint is the weights plus the momentum buffers in one safetensors file, written atomically. The last column projects the paper's 600 epochs of 50 000 CIFAR images at this throughput.",
    '',
    '| network, data | trainable params (auxiliary head excluded) | batch | train images | train images/s | eval images/s | checkpoint | 600 epochs x 50k images |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.params.toLocaleString('en-US')} | ${r.batch} | ${r.trainImages} | ${f(r.trainPerSecond)} | ${f(r.evalPerSecond)} | ${f(r.checkpointMb)} MiB in ${f(r.checkpointMs, 0)} ms | ${f(r.fullRecipeHours, 0)} h |`,
    ),
  ];
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
