// Data pipeline benchmark: batches per second for Fashion-MNIST and CIFAR-format data, with and
// without the section 7 augmentation, at batch 64 and 256; writes the "Data pipeline" section of
// docs/benchmarks.md. Run: `npx tsc -b && node bench/dist/data.js [--out FILE] [--seconds S]`.
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, tf } from '@rnas/engine';
import {
  deriveSeed,
  hostBatches,
  imageBytes,
  openDataset,
  Rng,
  toTensors,
  writeSyntheticDataset,
  type BatchOptions,
  type Dataset,
  type HostBatch,
  type Split,
} from '@rnas/data';
import { findStepTime } from './data-report';
import { BENCHMARKS_DOC, readDoc, writeDocSection } from './docs-section';

const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
const BATCH_SIZES = [64, 256];
const SECTION = 'Data pipeline';

interface Row {
  dataset: string;
  batchSize: number;
  variant: string;
  hostPerSecond?: number;
  tensorPerSecond: number;
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Batches per second of `next`, run for about `seconds` after a short warm-up. */
function rate(next: () => void, seconds: number): number {
  for (let i = 0; i < 3; i++) next();
  const start = process.hrtime.bigint();
  let count = 0;
  let elapsed = 0;
  while (elapsed < seconds || count < 10) {
    next();
    count++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return count / elapsed;
}

/** An endless stream of host batches: a new pass, with new seeds, whenever one ends, as training does. */
function endless(split: Split, options: BatchOptions): () => HostBatch {
  let pass = 0;
  let it = hostBatches(split, options);
  return () => {
    let r = it.next();
    while (r.done === true) {
      pass++;
      it = hostBatches(split, {
        ...options,
        shuffleSeed: deriveSeed(1, pass),
        ...(options.augment ? { augment: { ...options.augment, seed: deriveSeed(2, pass) } } : {}),
      });
      r = it.next();
    }
    return r.value;
  };
}

/**
 * The same augmentation with tfjs ops, for comparison: crop and flip as one cropAndResize over the
 * zero-padded batch (boxes at whole-pixel offsets, x reversed to flip), cutout as a mask multiply.
 */
function tfOpsAugmentBatch(split: Split, indices: Int32Array, rng: Rng): void {
  const [h, w, c] = split.imageShape;
  const per = imageBytes(split.imageShape);
  const n = indices.length;
  const raw = new Uint8Array(n * per);
  for (let i = 0; i < n; i++)
    raw.set(split.images.subarray(indices[i] * per, (indices[i] + 1) * per), i * per);
  const boxes: number[] = [];
  const mask = new Float32Array(n * h * w).fill(1);
  for (let i = 0; i < n; i++) {
    const [oy, ox, flip] = [rng.nextInt(9), rng.nextInt(9), rng.nextInt(2) === 1];
    const [y1, y2, xa, xb] = [oy / (h + 7), (oy + h - 1) / (h + 7), ox / (w + 7), (ox + w - 1) / (w + 7)];
    boxes.push(y1, flip ? xb : xa, y2, flip ? xa : xb);
    const [cy, cx] = [rng.nextInt(h), rng.nextInt(w)];
    for (let y = Math.max(0, cy - 8); y < Math.min(h, cy + 8); y++) {
      mask.fill(0, i * h * w + y * w + Math.max(0, cx - 8), i * h * w + y * w + Math.min(w, cx + 8));
    }
  }
  const out = tf.tidy(() => {
    const pixels = tf.cast(tf.tensor4d(raw, [n, h, w, c], 'int32'), 'float32');
    const padded = tf.pad(
      pixels,
      [
        [0, 0],
        [4, 4],
        [4, 4],
        [0, 0],
      ],
      0,
    );
    const normalised = tf.div(tf.sub(tf.div(padded, 255), [...split.mean]), [...split.std]) as tf.Tensor4D;
    const boxIndices = tf.range(0, n, 1, 'int32') as tf.Tensor1D;
    const cropped = tf.image.cropAndResize(normalised, tf.tensor2d(boxes, [n, 4]), boxIndices, [h, w]);
    return tf.mul(cropped, tf.tensor4d(mask, [n, h, w, 1]));
  });
  out.dataSync();
  out.dispose();
}

function measure(name: string, split: Split, seconds: number): Row[] {
  const rows: Row[] = [];
  for (const batchSize of BATCH_SIZES) {
    for (const augment of [false, true]) {
      const options: BatchOptions = {
        batchSize,
        shuffleSeed: 1,
        ...(augment ? { augment: { seed: 2 } } : {}),
      };
      const host = endless(split, options);
      const hostPerSecond = rate(() => host(), seconds);
      const withTensors = endless(split, options);
      const tensorPerSecond = rate(() => {
        const b = toTensors(withTensors());
        tf.dispose([b.images, b.labels]);
      }, seconds);
      const variant = augment ? 'crop 4 + flip + cutout 16 (host loops)' : 'normalise only';
      rows.push({ dataset: name, batchSize, variant, hostPerSecond, tensorPerSecond });
      console.log(
        `${name} batch ${batchSize} ${variant}: ${hostPerSecond.toFixed(1)} host, ${tensorPerSecond.toFixed(1)} with tensors (batches/s)`,
      );
    }
    const rng = Rng.fromSeed(3);
    const order = rng.permutation(split.size);
    let at = 0;
    const tensorPerSecond = rate(() => {
      if (at + batchSize > split.size) at = 0;
      tfOpsAugmentBatch(split, order.subarray(at, at + batchSize), rng);
      at += batchSize;
    }, seconds);
    rows.push({
      dataset: name,
      batchSize,
      variant: 'same augmentation with tf ops (for comparison)',
      tensorPerSecond,
    });
    console.log(`${name} batch ${batchSize} tf-ops augmentation: ${tensorPerSecond.toFixed(1)} batches/s`);
  }
  return rows;
}

async function main(): Promise<void> {
  const out = argument('--out') ?? BENCHMARKS_DOC;
  const seconds = Number(argument('--seconds') ?? '1.5');
  const backend = await initBackend();
  console.log(`backend ${backend.name} (${backend.detail})`);
  const rows: Row[] = [];
  const notes: string[] = [];
  if (existsSync(FASHION_MNIST_DIR)) {
    const ds: Dataset = await openDataset(`fashion-mnist:${FASHION_MNIST_DIR}`, {
      dataRoots: [FASHION_MNIST_DIR],
    });
    rows.push(...measure('Fashion-MNIST train (60000, 28x28x1)', ds.train, seconds));
  } else {
    notes.push(
      `Fashion-MNIST not measured: ${FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist).`,
    );
  }
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-bench-'));
  try {
    await writeSyntheticDataset(path.join(tmp, 'cifar10'), {
      format: 'cifar10',
      train: 10000,
      test: 100,
      seed: 1,
    });
    const ds = await openDataset(`cifar10:${path.join(tmp, 'cifar10')}`, { dataRoots: [tmp] });
    rows.push(...measure('CIFAR-10 format, synthetic train (10000, 32x32x3)', ds.train, seconds));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }

  const previous = await readDoc(out);
  const step = findStepTime(previous);
  const slowest64 = Math.min(
    ...rows.filter((r) => r.batchSize === 64 && r.hostPerSecond !== undefined).map((r) => r.tensorPerSecond),
  );
  const msPer64 = 1000 / slowest64;
  let comparison: string;
  if (step === undefined) {
    comparison =
      `Search-network training step at batch 64: not yet in the "Networks" section (\`make bench-networks\`); ` +
      `the slowest pipeline configuration here takes ${msPer64.toFixed(2)} ms per batch of 64.`;
  } else if (step.ms === undefined) {
    comparison = `Search-network training step at batch 64, from "Networks": \`${step.line}\`; the slowest pipeline configuration here takes ${msPer64.toFixed(2)} ms per batch of 64.`;
  } else {
    comparison =
      `Search-network training step at batch 64 (from "Networks": \`${step.line}\`): ${step.ms} ms; ` +
      `the slowest pipeline configuration here takes ${msPer64.toFixed(2)} ms per batch of 64, ` +
      `${((100 * msPer64) / (msPer64 + step.ms)).toFixed(1)}% of pipeline + step.`;
  }
  const table = [
    '| data | batch | preparation | host arrays, batches/s | with tensors, batches/s | ms/batch (tensors) |',
    '| --- | ---: | --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.dataset} | ${r.batchSize} | ${r.variant} | ${r.hostPerSecond === undefined ? '-' : r.hostPerSecond.toFixed(1)} | ` +
        `${r.tensorPerSecond.toFixed(1)} | ${(1000 / r.tensorPerSecond).toFixed(2)} |`,
    ),
  ];
  const body = [
    `Command: \`npx tsc -b && node bench/dist/data.js\` (about ${seconds} s per configuration).`,
    `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}; ` +
      `backend ${backend.name} (tfjs '${backend.tfBackend}'); ${new Date().toISOString().slice(0, 10)}.`,
    '',
    'Batches are NHWC float32 normalised with the per-channel mean and std of the training split; ' +
      '"host arrays" is preparation alone (uint8 gather, augmentation, normalisation in typed-array loops), ' +
      '"with tensors" adds making (and disposing) the image and label tensors, which is what a training loop sees. ' +
      'Each pass is reshuffled with a new seed.',
    '',
    ...table,
    '',
    comparison,
    ...(notes.length > 0 ? ['', ...notes] : []),
  ].join('\n');
  await writeDocSection(SECTION, body, out);
  console.log(`wrote the "${SECTION}" section of ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
