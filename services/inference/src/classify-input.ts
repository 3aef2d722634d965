// Validation of what a Classify request carries, before any work is queued. Every error is
// INVALID_ARGUMENT and names the field by its protobuf path (`images.images[2]`, `tensor.values[7]`).
import { InvalidArgumentError } from '@rnas/grpc';
import type { Classification, Tensor } from '@rnas/proto';
import { classificationRecord } from '@rnas/tasks';
import type { InputShape } from './preprocess';

/** Classes returned per image when top_k is 0. */
export const DEFAULT_TOP_K = 5;
/** Largest top_k accepted; values up to it are capped at the class count (the contract says so). */
export const MAX_TOP_K = 1000;

/** The model name of a request: required (a non-empty name that is no model is NOT_FOUND later). */
export function checkModelName(name: string): string {
  if (name === '') throw new InvalidArgumentError('model_name', name, 'required');
  return name;
}

/** The version of a request: absent means the serving version; 0 is no version. */
export function checkVersion(version: number | undefined): number | undefined {
  if (version === 0) {
    throw new InvalidArgumentError(
      'version',
      version,
      'versions start at 1; leave it unset for the serving version',
    );
  }
  return version;
}

/** Classes returned per image: top_k, 0 meaning 5, capped at the class count. */
export function resolveTopK(topK: number, classes: number): number {
  if (!Number.isInteger(topK) || topK < 0 || topK > MAX_TOP_K) {
    throw new InvalidArgumentError(
      'top_k',
      topK,
      `expected 0 (meaning ${DEFAULT_TOP_K}) to ${MAX_TOP_K}; values above the class count are capped`,
    );
  }
  return Math.min(topK === 0 ? DEFAULT_TOP_K : topK, classes);
}

/** Images per request: at least one, at most one batch. */
export function checkImageCount(count: number, maxBatchSize: number): void {
  if (count === 0) throw new InvalidArgumentError('images.images', '0 images', 'expected at least one image');
  if (count > maxBatchSize) {
    throw new InvalidArgumentError(
      'images.images',
      `${count} images`,
      `at most ${maxBatchSize} images per request (--max-batch-size); split the request`,
    );
  }
}

/**
 * A raw NHWC tensor checked against the model: shape [N, H, W, C] with the model's H, W, C and
 * N from 1 to the batch size, exactly N*H*W*C values, all finite. Returns the values as float32
 * and N.
 */
export function tensorInput(
  tensor: Tensor,
  shape: InputShape,
  maxBatchSize: number,
): { values: Float32Array; n: number } {
  const { height, width, channels } = shape;
  const dims = tensor.shape;
  const expected = `[N, ${height}, ${width}, ${channels}] (NHWC, N from 1 to ${maxBatchSize})`;
  if (
    dims.length !== 4 ||
    dims[1] !== height ||
    dims[2] !== width ||
    dims[3] !== channels ||
    dims[0] < 1 ||
    dims[0] > maxBatchSize
  ) {
    throw new InvalidArgumentError('tensor.shape', dims, `expected ${expected}`);
  }
  const n = dims[0];
  const size = n * height * width * channels;
  if (tensor.values.length !== size) {
    throw new InvalidArgumentError(
      'tensor.values',
      `${tensor.values.length} values`,
      `shape [${dims.join(', ')}] needs ${size} values`,
    );
  }
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const v = tensor.values[i];
    values[i] = v;
    // Checked as float32, what the network computes in: a double beyond its range is infinite there.
    if (!Number.isFinite(values[i])) {
      throw new InvalidArgumentError(
        `tensor.values[${i}]`,
        v,
        Number.isFinite(v) ? `must be finite as a float32 (|value| <= ${FLOAT32_MAX})` : 'must be finite',
      );
    }
  }
  return { values, n };
}

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Refuses a batch whose classification records are not finite. Input of extreme but finite values
 * (784 values of 3e38, say) can overflow the network: its logits come out infinite or NaN, and so
 * would every score; NaN must never reach a client, in any order. The probabilities are a stable
 * softmax of the logits (finite and in [0, 1] whenever the logits are finite), so the logits are
 * what is checked; the probabilities too, should a model's record be broken otherwise.
 * `input(i)` names image i's input field (`tensor.values`, `images.images[2]`).
 */
export function checkFiniteRecords(
  records: Float32Array,
  n: number,
  classes: number,
  input: (image: number) => string,
): void {
  for (let row = 0; row < n; row++) {
    const { logits, probabilities } = classificationRecord(records, row, classes);
    const logit = logits.findIndex((v) => !Number.isFinite(v));
    const probability = probabilities.findIndex((v) => !(v >= 0 && v <= 1));
    if (logit === -1 && probability === -1) continue;
    const what =
      logit !== -1
        ? `logit ${logit} is ${logits[logit]}`
        : `probability ${probability} is ${probabilities[probability]}`;
    throw new InvalidArgumentError(
      input(row),
      `image ${row}`,
      `the input produced non-finite outputs (${what}): the network overflowed; ` +
        "send values the size of the model's preprocessing output (GetModel's preprocessing)",
    );
  }
}

/** The k best classes of each image's probabilities in `records` (classification records), best first. */
export function topClasses(
  records: Float32Array,
  n: number,
  labels: readonly string[],
  k: number,
): Classification[] {
  const out: Classification[] = [];
  for (let row = 0; row < n; row++) {
    const { probabilities } = classificationRecord(records, row, labels.length);
    out.push({
      scores: topIndices(probabilities, k).map((index) => ({
        classIndex: index,
        label: labels[index],
        score: probabilities[index],
      })),
    });
  }
  return out;
}

/**
 * The indices of the k largest values, largest first; ties keep index order, so answers repeat.
 * A total order whatever the values: NaN (which callers refuse before) ranks below everything,
 * where a plain `b - a` comparator would make the order arbitrary.
 */
export function topIndices(values: Float32Array, k: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i);
  const rank = (i: number): number => (Number.isNaN(values[i]) ? -Infinity : values[i]);
  order.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    return ra === rb ? a - b : rb > ra ? 1 : -1;
  });
  return order.slice(0, k);
}
