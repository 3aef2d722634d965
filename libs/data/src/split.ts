import { checkInt, invalidArgument } from './errors';
import { Rng } from './rng';

/** Height, width, channels of every image of a dataset. */
export type ImageShape = readonly [height: number, width: number, channels: number];

/** Images and labels as stored: uint8 pixels, NHWC, row-major; one label per image. */
export interface LabelledImages {
  readonly imageShape: ImageShape;
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  /** CIFAR-100 only: the coarse (superclass) label of each image. */
  readonly coarseLabels?: Int32Array;
}

/**
 * A split of a dataset, ready to batch: the stored images plus what batching needs, namely the
 * number of classes and the per-channel mean and std (on the [0, 1] scale) to normalise with.
 */
export interface Split extends LabelledImages {
  readonly size: number;
  readonly numClasses: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export function imageBytes(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

/** A new split holding copies of the given images, in the given order. */
export function takeIndices(split: Split, indices: ArrayLike<number>): Split {
  const per = imageBytes(split.imageShape);
  const n = indices.length;
  const images = new Uint8Array(n * per);
  const labels = new Int32Array(n);
  const coarse = split.coarseLabels === undefined ? undefined : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = indices[i];
    if (!Number.isInteger(k) || k < 0 || k >= split.size) {
      throw invalidArgument(`indices[${i}]`, k, `an image index in [0, ${split.size - 1}]`);
    }
    images.set(split.images.subarray(k * per, (k + 1) * per), i * per);
    labels[i] = split.labels[k];
    if (coarse !== undefined) coarse[i] = (split.coarseLabels as Int32Array)[k];
  }
  return { ...split, size: n, images, labels, ...(coarse === undefined ? {} : { coarseLabels: coarse }) };
}

function range(start: number, end: number): Int32Array {
  const r = new Int32Array(end - start);
  for (let i = 0; i < r.length; i++) r[i] = start + i;
  return r;
}

export interface SplitOptions {
  /** Share of the images in the first portion; default 0.5 as in the search. */
  fraction?: number;
  /** Shuffle with this seed before cutting; without it the cut is in dataset order, as DARTS does. */
  seed?: number;
}

/**
 * Cuts a split in two: the search trains candidates on the first portion and compares them on
 * the second. The first portion gets floor(fraction * size) images.
 */
export function splitTrain(split: Split, options: SplitOptions = {}): [Split, Split] {
  const fraction = options.fraction ?? 0.5;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) {
    throw invalidArgument('fraction', fraction, 'a number strictly between 0 and 1');
  }
  const cut = Math.floor(fraction * split.size);
  const order =
    options.seed === undefined ? range(0, split.size) : Rng.fromSeed(options.seed).permutation(split.size);
  return [takeIndices(split, order.subarray(0, cut)), takeIndices(split, order.subarray(cut))];
}

export interface SubsetOptions {
  /** How many images to keep. */
  count: number;
  /** Without a seed, the first `count`; with one, a seeded sample without replacement (in dataset order). */
  seed?: number;
}

export function subset(split: Split, options: SubsetOptions): Split {
  const count = checkInt('count', options.count, 0, split.size);
  if (options.seed === undefined) return takeIndices(split, range(0, count));
  const chosen = Rng.fromSeed(options.seed).permutation(split.size).subarray(0, count).sort();
  return takeIndices(split, chosen);
}

/**
 * Per-channel mean and population std of uint8 NHWC images on the [0, 1] scale. Exact: it counts
 * a 256-bin histogram per channel, then sums in float64 (which on CIFAR-10's training split gives
 * DARTS's CIFAR_MEAN and CIFAR_STD).
 */
export function channelStats(images: Uint8Array, channels: number): { mean: number[]; std: number[] } {
  const hist = new Float64Array(channels * 256);
  if (channels === 1) {
    for (let i = 0; i < images.length; i++) hist[images[i]]++;
  } else {
    for (let i = 0; i < images.length; i += channels) {
      for (let c = 0; c < channels; c++) hist[c * 256 + images[i + c]]++;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let n = 0;
    let s = 0;
    for (let v = 0; v < 256; v++) {
      n += hist[c * 256 + v];
      s += hist[c * 256 + v] * v;
    }
    const m = n === 0 ? 0 : s / n;
    let ss = 0;
    for (let v = 0; v < 256; v++) ss += hist[c * 256 + v] * (v - m) * (v - m);
    mean.push(m / 255);
    std.push(n === 0 ? 0 : Math.sqrt(ss / n) / 255);
  }
  return { mean, std };
}
