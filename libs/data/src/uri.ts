import { DataError } from './errors';

/**
 * Dataset URIs: `<scheme>:<path>[?<query>]`, e.g. `fashion-mnist:/usr/share/datasets/fashion-mnist`,
 * `cifar100:/data/cifar-100?label=coarse`, `imagefolder:flowers?size=64&channels=3`,
 * `synthetic:shapes?classes=10&size=32&channels=3&train=1000&test=200&seed=1`; detection datasets
 * `voc:/data/VOC2007?train=trainval&test=test` and
 * `coco:/data/instances_train.json?images=/data/train2017&test=/data/instances_val.json`. The path
 * is taken literally (no percent-decoding; query values are form-decoded); a relative path, there
 * or in a coco path parameter, is looked up under each data root in turn.
 */
export const DATASET_SCHEMES = [
  'fashion-mnist',
  'mnist',
  'cifar10',
  'cifar100',
  'imagefolder',
  'synthetic',
  'voc',
  'coco',
  'voc-seg',
  'cityscapes',
  'coco-keypoints',
] as const;
export type DatasetScheme = (typeof DATASET_SCHEMES)[number];

/** The schemes of detection datasets (opened by openDetectionDataset, not openDataset). */
export const DETECTION_SCHEMES = ['voc', 'coco'] as const;
export type DetectionScheme = (typeof DETECTION_SCHEMES)[number];

export function isDetectionScheme(scheme: string): scheme is DetectionScheme {
  return (DETECTION_SCHEMES as readonly string[]).includes(scheme);
}

/**
 * Segmentation datasets (opened by openSegmentationDataset): `voc-seg:/data/VOC2012?train=train&test=val`
 * (`SegmentationClass/*.png` palette masks, `ImageSets/Segmentation/<split>.txt`) and
 * `cityscapes:/data/cityscapes?train=train&test=val` (`leftImg8bit/<split>/<city>/*_leftImg8bit.png`,
 * `gtFine/<split>/<city>/*_gtFine_labelIds.png`).
 */
export const SEGMENTATION_SCHEMES = ['voc-seg', 'cityscapes'] as const;
export type SegmentationScheme = (typeof SEGMENTATION_SCHEMES)[number];

export function isSegmentationScheme(scheme: string): scheme is SegmentationScheme {
  return (SEGMENTATION_SCHEMES as readonly string[]).includes(scheme);
}

/**
 * Keypoint datasets (opened by openKeypointDataset): COCO person keypoints,
 * `coco-keypoints:/data/person_keypoints_train.json?images=/data/train2017&test=/data/person_keypoints_val.json`.
 */
export const KEYPOINT_SCHEMES = ['coco-keypoints'] as const;
export type KeypointScheme = (typeof KEYPOINT_SCHEMES)[number];

export function isKeypointScheme(scheme: string): scheme is KeypointScheme {
  return (KEYPOINT_SCHEMES as readonly string[]).includes(scheme);
}

/** The task a dataset scheme's data is for. */
export type DatasetTask = 'classification' | 'detection' | 'segmentation' | 'keypoints';

export function schemeTask(scheme: DatasetScheme): DatasetTask {
  if (isDetectionScheme(scheme)) return 'detection';
  if (isSegmentationScheme(scheme)) return 'segmentation';
  if (isKeypointScheme(scheme)) return 'keypoints';
  return 'classification';
}

const PARAMETERS: Record<DatasetScheme, readonly string[]> = {
  'fashion-mnist': [],
  mnist: [],
  cifar10: [],
  cifar100: ['label'],
  imagefolder: ['size', 'channels'],
  synthetic: ['classes', 'size', 'channels', 'train', 'test', 'seed'],
  voc: ['train', 'test'],
  coco: ['images', 'test', 'test_images'],
  'voc-seg': ['train', 'test'],
  cityscapes: ['train', 'test'],
  'coco-keypoints': ['images', 'test', 'test_images'],
};

export interface DatasetUri {
  uri: string;
  scheme: DatasetScheme;
  path: string;
  params: ReadonlyMap<string, string>;
}

const MAX_URI_LENGTH = 4096;

function bad(uri: string, why: string): DataError {
  return new DataError('INVALID_ARGUMENT', `dataset URI ${JSON.stringify(uri)}: ${why}`);
}

export function parseDatasetUri(uri: string): DatasetUri {
  if (typeof uri !== 'string')
    throw new DataError('INVALID_ARGUMENT', `dataset URI: expected a string, got ${typeof uri}`);
  if (uri.length > MAX_URI_LENGTH)
    throw bad(uri.slice(0, 64) + '...', `longer than ${MAX_URI_LENGTH} characters`);
  if (uri.includes('\0')) throw bad(uri, 'contains a NUL character');
  const colon = uri.indexOf(':');
  const scheme = colon < 0 ? '' : uri.slice(0, colon);
  if (!(DATASET_SCHEMES as readonly string[]).includes(scheme)) {
    throw bad(uri, `expected <scheme>:<path> with a scheme among ${DATASET_SCHEMES.join(', ')}`);
  }
  const rest = uri.slice(colon + 1);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  if (path === '') throw bad(uri, 'expected a path after the scheme');
  const params = new Map<string, string>();
  const allowed = PARAMETERS[scheme as DatasetScheme];
  if (q >= 0) {
    for (const [key, value] of new URLSearchParams(rest.slice(q + 1))) {
      if (!allowed.includes(key)) {
        throw bad(
          uri,
          `unknown query parameter ${JSON.stringify(key)}; ${scheme} takes ${allowed.length === 0 ? 'none' : allowed.join(', ')}`,
        );
      }
      if (params.has(key)) throw bad(uri, `query parameter ${JSON.stringify(key)} given twice`);
      params.set(key, value);
    }
  }
  const parsed: DatasetUri = { uri, scheme: scheme as DatasetScheme, path, params };
  checkParameters(parsed);
  return parsed;
}

/** An integer query parameter's bounds and default. */
export interface IntParamSpec {
  readonly min: number;
  readonly max: number;
  readonly fallback: number;
}

/** The integer parameters of `synthetic:shapes` (channels is 1 or 3, default 3). */
export const SYNTHETIC_INT_PARAMS = {
  classes: { min: 2, max: 1000, fallback: 10 },
  size: { min: 8, max: 512, fallback: 32 },
  train: { min: 1, max: 1_000_000, fallback: 1000 },
  test: { min: 0, max: 1_000_000, fallback: 200 },
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 },
} as const satisfies Record<string, IntParamSpec>;

/** The `size` of `imagefolder:` (N or HxW). */
export const IMAGE_FOLDER_SIZE: IntParamSpec = { min: 1, max: 4096, fallback: 32 };

/** The `channels` of `imagefolder:` and `synthetic:`. */
export const CHANNEL_CHOICES = ['1', '3'] as const;

/** The `label` of `cifar100:`. */
export const CIFAR100_LABELS = ['fine', 'coarse'] as const;

/**
 * Every query parameter's value, and the synthetic generator's name, checked as the openers read
 * them: so a URI that parses has nothing left to refuse but its files (their existence, place under
 * the data roots and contents) and, for `synthetic:`, its size against the byte limit. The job
 * services parse each request's URI when the job is submitted, so a bad parameter is
 * INVALID_ARGUMENT then and never a job that fails later.
 */
function checkParameters(parsed: DatasetUri): void {
  switch (parsed.scheme) {
    case 'synthetic':
      if (parsed.path !== 'shapes') {
        throw bad(
          parsed.uri,
          `unknown synthetic generator ${JSON.stringify(parsed.path)}; expected "shapes"`,
        );
      }
      for (const [key, spec] of Object.entries(SYNTHETIC_INT_PARAMS)) {
        intParam(parsed, key, spec.min, spec.max, spec.fallback);
      }
      choiceParam(parsed, 'channels', CHANNEL_CHOICES, '3');
      return;
    case 'cifar100':
      choiceParam(parsed, 'label', CIFAR100_LABELS, 'fine');
      return;
    case 'imagefolder':
      sizeParam(parsed, 'size', IMAGE_FOLDER_SIZE.min, IMAGE_FOLDER_SIZE.max, IMAGE_FOLDER_SIZE.fallback);
      choiceParam(parsed, 'channels', CHANNEL_CHOICES, '3');
      return;
    case 'voc':
    case 'voc-seg':
    case 'cityscapes':
    case 'coco':
    case 'coco-keypoints':
      datasetPaths(parsed);
      return;
    default:
      // fashion-mnist, mnist and cifar10 take no parameters, which the parse has checked.
      return;
  }
}

/** An integer query parameter in [min, max], or the default when absent. */
export function intParam(
  parsed: DatasetUri,
  key: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = parsed.params.get(key);
  if (raw === undefined) return fallback;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(
      parsed.uri,
      `query parameter ${key}: expected an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** A query parameter that takes one of a few words, or the default when absent. */
export function choiceParam<T extends string>(
  parsed: DatasetUri,
  key: string,
  choices: readonly T[],
  fallback: T,
): T {
  const raw = parsed.params.get(key);
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw bad(
      parsed.uri,
      `query parameter ${key}: expected one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw as T;
}

/** A size parameter: `N` for square images or `HxW`. */
export function sizeParam(
  parsed: DatasetUri,
  key: string,
  min: number,
  max: number,
  fallback: number,
): [number, number] {
  const raw = parsed.params.get(key);
  if (raw === undefined) return [fallback, fallback];
  const m = /^(\d{1,5})(?:x(\d{1,5}))?$/.exec(raw);
  const h = m === null ? NaN : Number(m[1]);
  const w = m === null ? NaN : Number(m[2] ?? m[1]);
  if (!(h >= min && h <= max && w >= min && w <= max)) {
    throw bad(
      parsed.uri,
      `query parameter ${key}: expected N or HxW with sides in [${min}, ${max}], got ${JSON.stringify(raw)}`,
    );
  }
  return [h, w];
}

/** A path a dataset URI names, and whether it must be a directory or a regular file. */
export interface DatasetPath {
  readonly path: string;
  /** The URI part that named it, for messages: `path` or a query parameter. */
  readonly field: string;
  readonly kind: 'directory' | 'file';
}

/** An image-set (split) name: a plain file name, so it cannot leave the folder. */
const SPLIT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Where each scheme finds a split by name, for messages. */
const SPLIT_WHERE: Partial<Record<DatasetScheme, string>> = {
  voc: 'the file ImageSets/Main/<name>.txt',
  'voc-seg': 'the file ImageSets/Segmentation/<name>.txt',
  cityscapes: 'the folders leftImg8bit/<name> and gtFine/<name>',
};

/** A VOC or Cityscapes split parameter: its value, checked to be a plain image-set name, or the default. */
export function vocSplitParam(parsed: DatasetUri, key: 'train' | 'test', fallback: string): string {
  const raw = parsed.params.get(key);
  if (raw === undefined) return fallback;
  if (!SPLIT_NAME.test(raw)) {
    throw bad(
      parsed.uri,
      `query parameter ${key}: expected an image-set name (letters, digits, _ . -; ${SPLIT_WHERE[parsed.scheme] ?? SPLIT_WHERE.voc}), got ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}

/** A path-valued query parameter: non-empty and without NUL when given. */
function pathParam(parsed: DatasetUri, key: string): string | undefined {
  const raw = parsed.params.get(key);
  if (raw === undefined) return undefined;
  if (raw === '' || raw.includes('\0')) {
    throw bad(parsed.uri, `query parameter ${key}: expected a path, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/**
 * The paths a dataset URI names, checked for form (not yet against the file system): none for
 * `synthetic:`, the dataset directory for the other classification schemes and for `voc:`, and for
 * `coco:` the two instances JSON files with their image folders (by default the folder holding
 * each JSON). The job services check these under the data roots when a job is accepted.
 */
export function datasetPaths(parsed: DatasetUri): DatasetPath[] {
  switch (parsed.scheme) {
    case 'synthetic':
      return [];
    case 'voc':
    case 'voc-seg':
    case 'cityscapes':
      vocSplitParam(parsed, 'train', 'train');
      vocSplitParam(parsed, 'test', 'val');
      return [{ path: parsed.path, field: 'path', kind: 'directory' }];
    case 'coco':
    case 'coco-keypoints': {
      const test = pathParam(parsed, 'test');
      if (test === undefined) {
        throw bad(parsed.uri, "query parameter test: expected the test split's instances JSON, got nothing");
      }
      const images = pathParam(parsed, 'images');
      const testImages = pathParam(parsed, 'test_images');
      return [
        { path: parsed.path, field: 'path', kind: 'file' },
        ...(images === undefined ? [] : [{ path: images, field: 'images', kind: 'directory' as const }]),
        { path: test, field: 'test', kind: 'file' },
        ...(testImages === undefined
          ? []
          : [{ path: testImages, field: 'test_images', kind: 'directory' as const }]),
      ];
    }
    default:
      return [{ path: parsed.path, field: 'path', kind: 'directory' }];
  }
}
