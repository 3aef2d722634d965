// The serving record of a detector: what `DetectionNetwork.infer` returns per image, a fixed
// number of float32 values so that a batch's records travel as one array (out of a compute
// thread, for instance) and are read back without any other shape information.

/** Most detections a record holds (the reference's `top_k` of 200 candidates per class, overall). */
export const MAX_DETECTIONS = 200;
/** Values per detection: x1, y1, x2, y2, score, class index. */
export const DETECTION_VALUES = 6;
/** Values per image: the count, then `MAX_DETECTIONS` slots. */
export const DETECTION_RECORD_SIZE = 1 + MAX_DETECTIONS * DETECTION_VALUES;

/** One detected object. */
export interface Detection {
  /** Corners (x1, y1, x2, y2) in fractions of the input's width and height (not clipped). */
  readonly box: readonly [number, number, number, number];
  /** Softmax probability of the class, in [0, 1]. */
  readonly score: number;
  /** 0-based object class (background excluded). */
  readonly classIndex: number;
}

/** Writes image `image`'s record into `output`: the count, the detections in order, zeros after. */
export function writeDetectionRecord(
  detections: readonly Detection[],
  output: Float32Array,
  image: number,
): void {
  const base = recordOffset(output, image);
  if (detections.length > MAX_DETECTIONS) {
    throw new Error(`detection record ${image}: ${detections.length} detections, at most ${MAX_DETECTIONS}`);
  }
  output.fill(0, base, base + DETECTION_RECORD_SIZE);
  output[base] = detections.length;
  detections.forEach((d, i) => {
    const o = base + 1 + i * DETECTION_VALUES;
    output.set([...d.box, d.score, d.classIndex], o);
  });
}

/**
 * Image `image`'s detections from a batch's records. Refuses a record that no writer made: a count
 * or class index that is not a whole number in range, a value that is not finite.
 */
export function readDetectionRecord(output: Float32Array, image: number): Detection[] {
  const base = recordOffset(output, image);
  const count = output[base];
  if (!Number.isInteger(count) || count < 0 || count > MAX_DETECTIONS) {
    throw new Error(
      `detection record ${image}: count is ${count}, expected an integer in [0, ${MAX_DETECTIONS}]`,
    );
  }
  const out: Detection[] = [];
  for (let i = 0; i < count; i++) {
    const o = base + 1 + i * DETECTION_VALUES;
    const values = Array.from(output.subarray(o, o + DETECTION_VALUES));
    const [x1, y1, x2, y2, score, classIndex] = values;
    if (!values.every(Number.isFinite) || !Number.isInteger(classIndex) || classIndex < 0) {
      throw new Error(
        `detection record ${image}: detection ${i} is [${values.join(', ')}], expected finite values and a class index >= 0`,
      );
    }
    out.push({ box: [x1, y1, x2, y2], score, classIndex });
  }
  return out;
}

function recordOffset(output: Float32Array, image: number): number {
  const images = Math.floor(output.length / DETECTION_RECORD_SIZE);
  if (!Number.isSafeInteger(image) || image < 0 || image >= images) {
    throw new Error(
      `detection record ${image}: expected an image index in [0, ${images - 1}] (${output.length} values, ${DETECTION_RECORD_SIZE} per image)`,
    );
  }
  return image * DETECTION_RECORD_SIZE;
}
