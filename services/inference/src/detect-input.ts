// Validation of what a Detect request carries beyond Classify's rules (the model, the images or
// the tensor), and the response built from the detector's serving records. Every error is
// INVALID_ARGUMENT and names the field by its protobuf path.
import { InvalidArgumentError } from '@rnas/grpc';
import type { ImageDetections } from '@rnas/proto';
import { MAX_DETECTIONS, readDetectionRecord } from '@rnas/tasks';

/** Lowest score returned when the request leaves it unset. */
export const DEFAULT_SCORE_THRESHOLD = 0.3;
/** Detections per image when the request leaves it unset. */
export const DEFAULT_MAX_DETECTIONS = 100;
/** Longest class filter: far more than any model's classes. */
const MAX_CLASS_FILTER = 1000;

export interface DetectOptions {
  readonly scoreThreshold: number;
  readonly maxDetections: number;
  /** Class indices to keep; null keeps every class. */
  readonly classes: ReadonlySet<number> | null;
}

/** The request's filters, checked against the model's labels. */
export function resolveDetectOptions(
  request: { scoreThreshold?: number; maxDetections?: number; classes: readonly string[] },
  labels: readonly string[],
): DetectOptions {
  const threshold = request.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
  if (!(Number.isFinite(threshold) && threshold >= 0 && threshold <= 1)) {
    throw new InvalidArgumentError('score_threshold', request.scoreThreshold, 'expected a number in [0, 1]');
  }
  const max = request.maxDetections ?? DEFAULT_MAX_DETECTIONS;
  if (!(Number.isInteger(max) && max >= 1 && max <= MAX_DETECTIONS)) {
    throw new InvalidArgumentError(
      'max_detections',
      request.maxDetections,
      `expected an integer in [1, ${MAX_DETECTIONS}] (unset means ${DEFAULT_MAX_DETECTIONS})`,
    );
  }
  if (request.classes.length > MAX_CLASS_FILTER) {
    throw new InvalidArgumentError(
      'classes',
      `${request.classes.length} classes`,
      `at most ${MAX_CLASS_FILTER}`,
    );
  }
  let classes: Set<number> | null = null;
  if (request.classes.length > 0) {
    classes = new Set();
    request.classes.forEach((label, i) => {
      const index = labels.indexOf(label);
      if (index === -1) {
        throw new InvalidArgumentError(
          `classes[${i}]`,
          label,
          `expected one of the model's labels (${labels.slice(0, 20).join(', ')}${labels.length > 20 ? ', ...' : ''})`,
        );
      }
      classes?.add(index);
    });
  }
  return { scoreThreshold: threshold, maxDetections: max, classes };
}

/**
 * The detections of each image from the batch's records, filtered, in the pixel coordinates of
 * the image (`sizes[i]`: the width and height the client sent, or the input size for a tensor),
 * clipped to it, best first.
 */
export function imageDetections(
  records: Float32Array,
  sizes: readonly { width: number; height: number }[],
  labels: readonly string[],
  options: DetectOptions,
): ImageDetections[] {
  return sizes.map(({ width, height }, i) => {
    const kept = readDetectionRecord(records, i)
      .filter((d) => d.score >= options.scoreThreshold && (options.classes?.has(d.classIndex) ?? true))
      .slice(0, options.maxDetections);
    const clip = (v: number, side: number): number => Math.min(Math.max(v * side, 0), side);
    return {
      width,
      height,
      detections: kept.map((d) => ({
        classIndex: d.classIndex,
        label: labels[d.classIndex] ?? String(d.classIndex),
        score: d.score,
        box: {
          xMin: clip(d.box[0], width),
          yMin: clip(d.box[1], height),
          xMax: clip(d.box[2], width),
          yMax: clip(d.box[3], height),
        },
      })),
    };
  });
}
