// What the detection metrics evaluate: boxes in pixels of their image, one class index each
// (background excluded), and the checks both metrics run on them before any arithmetic.

/** A box of one image and one class. */
export interface EvalBox {
  imageId: string;
  /** In [0, classes). */
  classIndex: number;
  /** Corners in pixels, x to the right and y down; x2 >= x1 and y2 >= y1. */
  box: readonly [x1: number, y1: number, x2: number, y2: number];
}

/** A prediction. */
export interface EvalDetection extends EvalBox {
  score: number;
}

/** An annotation. */
export interface EvalGroundTruth extends EvalBox {
  /** VOC: neither a hit nor a miss, and not counted among the positives. */
  difficult?: boolean;
  /** COCO iscrowd: matched by any number of detections, each then ignored. */
  crowd?: boolean;
  /** COCO's area for the small/medium/large ranges (its segment's area); default the box's w*h. */
  area?: number;
}

/** An input box that cannot be evaluated: which one, the field, what it must be and what it was. */
export class EvalInputError extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`${path}: ${expected}, got ${typeof got === 'number' ? String(got) : JSON.stringify(got)}`);
    this.name = 'EvalInputError';
  }
}

const MAX_COORDINATE = 1e9;

/**
 * Throws EvalInputError for the first bad field, e.g. `detections[3].score: expected a finite
 * number, got NaN`. A loop, not zod: it runs over every box of a whole test set.
 */
export function checkEvalInputs(
  detections: readonly EvalDetection[],
  groundTruths: readonly EvalGroundTruth[],
  classes: number,
): void {
  if (!Number.isInteger(classes) || classes < 1)
    throw new EvalInputError('options.classes', 'expected a positive integer', classes);
  const checkBox = (b: EvalBox, path: string): void => {
    if (typeof b.imageId !== 'string')
      throw new EvalInputError(`${path}.imageId`, 'expected a string', b.imageId);
    if (!Number.isInteger(b.classIndex) || b.classIndex < 0 || b.classIndex >= classes)
      throw new EvalInputError(`${path}.classIndex`, `expected an integer in [0, ${classes})`, b.classIndex);
    const box = b.box;
    if (!Array.isArray(box) || box.length !== 4)
      throw new EvalInputError(`${path}.box`, 'expected [x1, y1, x2, y2]', box);
    box.forEach((v, j) => {
      // Bounded so that areas stay finite (1e300 squared is Infinity, and Infinity / Infinity NaN).
      if (!(Math.abs(v) <= MAX_COORDINATE))
        throw new EvalInputError(`${path}.box[${j}]`, 'expected a finite number in [-1e9, 1e9]', v);
    });
    if (box[2] < box[0] || box[3] < box[1])
      throw new EvalInputError(`${path}.box`, 'expected x2 >= x1 and y2 >= y1', box);
  };
  detections.forEach((d, i) => {
    checkBox(d, `detections[${i}]`);
    if (!Number.isFinite(d.score))
      throw new EvalInputError(`detections[${i}].score`, 'expected a finite number', d.score);
  });
  groundTruths.forEach((g, i) => {
    checkBox(g, `groundTruths[${i}]`);
    if (g.area !== undefined && !(Number.isFinite(g.area) && g.area >= 0))
      throw new EvalInputError(`groundTruths[${i}].area`, 'expected a finite number >= 0', g.area);
  });
}

/** Items grouped by class index, then by image id (insertion order kept). */
export function byClassAndImage<T extends EvalBox>(items: readonly T[], classes: number): Map<string, T[]>[] {
  const groups = Array.from({ length: classes }, () => new Map<string, T[]>());
  for (const item of items) {
    const perImage = groups[item.classIndex];
    const list = perImage.get(item.imageId);
    if (list === undefined) perImage.set(item.imageId, [item]);
    else list.push(item);
  }
  return groups;
}

/** Indices of `items` by descending score, ties in input order (a stable sort, like mergesort). */
export function byScore(items: readonly { score: number }[]): number[] {
  return items.map((_, i) => i).sort((a, b) => items[b].score - items[a].score);
}
