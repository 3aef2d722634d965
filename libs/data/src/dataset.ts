import * as path from 'node:path';
import { loadCifar10, loadCifar100 } from './cifar';
import { DataError, invalidArgument } from './errors';
import { DEFAULT_MAX_FILE_BYTES, type LoadContext } from './files';
import { FASHION_MNIST_CLASSES, loadIdxDataset, MNIST_CLASSES } from './idx';
import { loadImageFolder } from './image-folder';
import { DataRoots } from './sandbox';
import { channelStats, imageBytes, type ImageShape, type LabelledImages, type Split } from './split';
import { generateShapes } from './synthetic';
import {
  CHANNEL_CHOICES,
  choiceParam,
  CIFAR100_LABELS,
  IMAGE_FOLDER_SIZE,
  intParam,
  parseDatasetUri,
  schemeTask,
  sizeParam,
  SYNTHETIC_INT_PARAMS,
  type DatasetUri,
} from './uri';

/**
 * A classification dataset held compactly: uint8 images (NHWC) and int32 labels per split. The
 * normalisation statistics are the per-channel mean and population std of the whole training
 * split on the [0, 1] scale (for the real CIFAR-10 these are DARTS's published constants); both
 * splits, and every split or subset cut from them, normalise with these same numbers.
 */
export interface Dataset {
  readonly uri: string;
  readonly name: string;
  readonly classNames: readonly string[];
  /** CIFAR-100 only: the 20 superclass names. */
  readonly coarseClassNames?: readonly string[];
  readonly imageShape: ImageShape;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly train: Split;
  readonly test: Split;
}

export interface OpenDatasetOptions {
  /** Directories dataset paths must lie in (after resolving symlinks); not needed for `synthetic:`. */
  dataRoots?: readonly string[];
  /** Largest dataset file, after decompression, and largest decoded image folder; default 1 GiB. */
  maxFileBytes?: number;
}

/** Data roots from the environment: `RNAS_DATA_ROOT` (colon-separated, as the services' `--data-root`), else Debian's dataset folder. */
export function dataRootsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.RNAS_DATA_ROOT;
  if (raw === undefined || raw.trim() === '') return ['/usr/share/datasets'];
  return raw.split(':').filter((r) => r !== '');
}

/** Assembles a Dataset from loaded or generated images: validates them and computes the statistics. */
export function datasetFromImages(
  uri: string,
  name: string,
  data: {
    train: LabelledImages;
    test: LabelledImages;
    classNames: readonly string[];
    coarseClassNames?: readonly string[];
  },
): Dataset {
  const { train, test, classNames } = data;
  const imageShape = train.imageShape;
  const channels = imageShape[2];
  for (const [field, split] of [
    ['train', train],
    ['test', test],
  ] as const) {
    if (split.imageShape.join('x') !== imageShape.join('x')) {
      throw invalidArgument(`${field}.imageShape`, split.imageShape.join('x'), imageShape.join('x'));
    }
    const count = split.labels.length;
    if (split.images.length !== count * imageBytes(imageShape)) {
      throw invalidArgument(
        `${field}.images.length`,
        split.images.length,
        `${count} images of ${imageShape.join('x')}`,
      );
    }
    split.labels.forEach((label, i) => {
      if (!(label >= 0 && label < classNames.length)) {
        throw invalidArgument(
          `${field}.labels[${i}]`,
          label,
          `a class index in [0, ${classNames.length - 1}]`,
        );
      }
    });
  }
  if (train.labels.length === 0) {
    throw new DataError(
      'FAILED_PRECONDITION',
      `dataset URI ${JSON.stringify(uri)}: the training split has no images`,
    );
  }
  const { mean, std } = channelStats(train.images, channels);
  std.forEach((s, c) => {
    if (s === 0) {
      throw new DataError(
        'FAILED_PRECONDITION',
        `dataset URI ${JSON.stringify(uri)}: channel ${c} is constant over the training split (std 0); it cannot be normalised`,
      );
    }
  });
  const asSplit = (split: LabelledImages): Split => ({
    ...split,
    size: split.labels.length,
    numClasses: classNames.length,
    mean,
    std,
  });
  return {
    uri,
    name,
    classNames: [...classNames],
    ...(data.coarseClassNames === undefined ? {} : { coarseClassNames: [...data.coarseClassNames] }),
    imageShape,
    mean,
    std,
    train: asSplit(train),
    test: asSplit(test),
  };
}

function syntheticDataset(parsed: DatasetUri, maxBytes: number): Dataset {
  // The generator's name and every parameter were checked when the URI was parsed.
  const int = (key: keyof typeof SYNTHETIC_INT_PARAMS): number => {
    const spec = SYNTHETIC_INT_PARAMS[key];
    return intParam(parsed, key, spec.min, spec.max, spec.fallback);
  };
  const options = {
    classes: int('classes'),
    size: int('size'),
    channels: choiceParam(parsed, 'channels', CHANNEL_CHOICES, '3') === '1' ? (1 as const) : (3 as const),
    train: int('train'),
    test: int('test'),
    seed: int('seed'),
  };
  const bytes = (options.train + options.test) * options.size * options.size * options.channels;
  if (bytes > maxBytes) {
    throw new DataError(
      'RESOURCE_EXHAUSTED',
      `dataset URI ${JSON.stringify(parsed.uri)}: ${bytes} bytes of images, more than the limit of ${maxBytes}`,
    );
  }
  return datasetFromImages(parsed.uri, 'synthetic-shapes', generateShapes(options));
}

/**
 * Opens a dataset by URI (see uri.ts for the syntax). File-backed schemes resolve only under
 * `dataRoots`: a path outside them (by `..`, a symlink or an absolute path elsewhere) is refused.
 */
export async function openDataset(uri: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const parsed = parseDatasetUri(uri);
  const task = schemeTask(parsed.scheme);
  if (task !== 'classification') {
    throw new DataError(
      'INVALID_ARGUMENT',
      `dataset URI ${JSON.stringify(uri)}: ${parsed.scheme}: names a ${task} dataset (not one ` +
        'label per image); a classification task needs an image-classification dataset',
    );
  }
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) {
    throw invalidArgument('maxFileBytes', maxFileBytes, 'a positive integer');
  }
  if (parsed.scheme === 'synthetic') return syntheticDataset(parsed, maxFileBytes);
  // Every query parameter is checked before the file system is touched.
  const cifarLabel = choiceParam(parsed, 'label', CIFAR100_LABELS, 'fine');
  const size = IMAGE_FOLDER_SIZE;
  const [height, width] = sizeParam(parsed, 'size', size.min, size.max, size.fallback);
  const channels = choiceParam(parsed, 'channels', CHANNEL_CHOICES, '3') === '1' ? 1 : 3;
  const roots = await DataRoots.create(options.dataRoots ?? []);
  const dir = await roots.resolveDirectory(uri, parsed.path);
  const ctx: LoadContext = { uri, roots, maxFileBytes };
  switch (parsed.scheme) {
    case 'fashion-mnist':
      return datasetFromImages(uri, 'fashion-mnist', {
        ...(await loadIdxDataset(ctx, dir, FASHION_MNIST_CLASSES.length)),
        classNames: FASHION_MNIST_CLASSES,
      });
    case 'mnist':
      return datasetFromImages(uri, 'mnist', {
        ...(await loadIdxDataset(ctx, dir, MNIST_CLASSES.length)),
        classNames: MNIST_CLASSES,
      });
    case 'cifar10':
      return datasetFromImages(uri, 'cifar10', await loadCifar10(ctx, dir));
    case 'cifar100':
      return datasetFromImages(
        uri,
        cifarLabel === 'fine' ? 'cifar100' : 'cifar100-coarse',
        await loadCifar100(ctx, dir, cifarLabel),
      );
    case 'imagefolder':
      return datasetFromImages(
        uri,
        path.basename(dir),
        await loadImageFolder(ctx, dir, [height, width, channels]),
      );
    default:
      throw new DataError(
        'INVALID_ARGUMENT',
        `dataset URI ${JSON.stringify(uri)}: not a classification dataset`,
      );
  }
}
