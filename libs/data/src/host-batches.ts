import {
  fillImages,
  normalizationTable,
  resolveAugment,
  type AugmentOptions,
  type ResolvedAugment,
} from './augment';
import { checkInt, invalidArgument } from './errors';
import { deriveSeed, Rng } from './rng';
import { imageBytes, type Split } from './split';

export interface BatchOptions {
  batchSize: number;
  /** Shuffle with a permutation seeded by this (give each pass its own); without it, dataset order. */
  shuffleSeed?: number;
  /** Augment (section 7) with these settings; without it, only normalisation. */
  augment?: AugmentOptions;
  /** Leave out a last, smaller batch; default false. */
  dropLast?: boolean;
}

/** A batch on the host: NHWC float32 images, normalised (and augmented), int32 labels. */
export interface HostBatch {
  /** Position of the batch in the pass. */
  index: number;
  size: number;
  shape: [number, number, number, number];
  images: Float32Array;
  labels: Int32Array;
}

const MAX_BATCH_SIZE = 65536;

export function batchCount(split: Split, options: BatchOptions): number {
  const batchSize = checkInt('batchSize', options.batchSize, 1, MAX_BATCH_SIZE);
  return options.dropLast === true ? Math.floor(split.size / batchSize) : Math.ceil(split.size / batchSize);
}

/**
 * One pass over a split in batches, made lazily: only the current batch exists as floats. Batch k
 * depends only on the split, the options and k (its augmentation draws come from a stream seeded
 * by (augment.seed, k)), so a pass is reproducible however far it is consumed. Give each pass its
 * own shuffleSeed and augment.seed (e.g. deriveSeed(seed, epoch)) or every pass repeats the first.
 * Options are checked at the call, not at the first batch.
 */
export function hostBatches(split: Split, options: BatchOptions): Generator<HostBatch> {
  const count = batchCount(split, options);
  if (options.shuffleSeed !== undefined)
    checkInt('shuffleSeed', options.shuffleSeed, 0, Number.MAX_SAFE_INTEGER);
  if (options.dropLast !== undefined && typeof options.dropLast !== 'boolean') {
    throw invalidArgument('dropLast', options.dropLast, 'a boolean');
  }
  const augment = options.augment === undefined ? undefined : resolveAugment(options.augment);
  return generateBatches(split, options, count, augment);
}

function* generateBatches(
  split: Split,
  options: BatchOptions,
  count: number,
  augment: ResolvedAugment | undefined,
): Generator<HostBatch> {
  const batchSize = options.batchSize;
  const order =
    options.shuffleSeed === undefined ? undefined : Rng.fromSeed(options.shuffleSeed).permutation(split.size);
  const table = normalizationTable(split.mean, split.std);
  const per = imageBytes(split.imageShape);
  const [h, w, c] = split.imageShape;
  for (let k = 0; k < count; k++) {
    const start = k * batchSize;
    const n = Math.min(batchSize, split.size - start);
    const indices = new Int32Array(n);
    for (let i = 0; i < n; i++) indices[i] = order === undefined ? start + i : order[start + i];
    const images = new Float32Array(n * per);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = split.labels[indices[i]];
    fillImages(
      split,
      indices,
      images,
      table,
      augment === undefined
        ? undefined
        : { options: augment, rng: Rng.fromSeed(deriveSeed(augment.seed, k)) },
    );
    yield { index: k, size: n, shape: [n, h, w, c], images, labels };
  }
}
