import { DataError } from './errors';

/**
 * Dataset URIs: `<scheme>:<path>[?<query>]`, e.g. `fashion-mnist:/usr/share/datasets/fashion-mnist`,
 * `cifar100:/data/cifar-100?label=coarse`, `imagefolder:flowers?size=64&channels=3`,
 * `synthetic:shapes?classes=10&size=32&channels=3&train=1000&test=200&seed=1`. The path is taken
 * literally (no percent-decoding); a relative path is looked up under each data root in turn.
 */
export const DATASET_SCHEMES = [
  'fashion-mnist',
  'mnist',
  'cifar10',
  'cifar100',
  'imagefolder',
  'synthetic',
] as const;
export type DatasetScheme = (typeof DATASET_SCHEMES)[number];

const PARAMETERS: Record<DatasetScheme, readonly string[]> = {
  'fashion-mnist': [],
  mnist: [],
  cifar10: [],
  cifar100: ['label'],
  imagefolder: ['size', 'channels'],
  synthetic: ['classes', 'size', 'channels', 'train', 'test', 'seed'],
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
  return { uri, scheme: scheme as DatasetScheme, path, params };
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
