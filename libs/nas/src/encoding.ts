// The continuous encoding of RELATIVENAS.md section 5: an architecture is a real vector of length
// 2 * steps * 4; for each cell type (normal, then reduce) and each node j the four numbers
// [in1, op1, in2, op2] with in in [0, j+2] and op in [0, |primitives|]. Edge 2j is (op1, in1)
// and edge 2j+1 is (op2, in2). Any vector in the bounds decodes to a valid genotype.
import {
  CELL_TYPES,
  GenotypeError,
  PRIMITIVES,
  cellSteps,
  isOpName,
  validateGenotype,
  type Edge,
  type Genotype,
  type OpName,
} from './genotype';

/** Numbers per node: [in1, op1, in2, op2]. */
const PER_NODE = 4;

/** Per-coordinate bounds of the encoding (the same shape as the search's `Bounds`). */
export interface EncodingBounds {
  lower: number[];
  upper: number[];
}

function checkSteps(steps: number): void {
  if (!Number.isSafeInteger(steps) || steps < 1) {
    throw new RangeError(`encoding: steps must be a positive integer, got ${steps}`);
  }
}

function checkPrimitives(primitives: readonly string[]): asserts primitives is readonly OpName[] {
  if (!Array.isArray(primitives) || primitives.length === 0) {
    throw new RangeError(
      `encoding: primitives must be a non-empty list of op names, got ${JSON.stringify(primitives)}`,
    );
  }
  primitives.forEach((op, i) => {
    if (!isOpName(op))
      throw new RangeError(`encoding: primitives[${i}] ${JSON.stringify(op)} is not a known op`);
    if (primitives.indexOf(op) !== i)
      throw new RangeError(`encoding: primitives[${i}] ${JSON.stringify(op)} is listed twice`);
  });
}

/** Length of the vector for a genotype with `steps` nodes per cell (32 for 4). */
export function encodingLength(steps: number): number {
  checkSteps(steps);
  return CELL_TYPES.length * steps * PER_NODE;
}

/** Lower bounds are all 0; node j's inputs go up to j+2 and its ops up to |primitives|. */
export function encodingBounds(steps: number, primitives: readonly string[] = PRIMITIVES): EncodingBounds {
  checkSteps(steps);
  checkPrimitives(primitives);
  const upper: number[] = [];
  for (let c = 0; c < CELL_TYPES.length; c++) {
    for (let j = 0; j < steps; j++) upper.push(j + 2, primitives.length, j + 2, primitives.length);
  }
  return { lower: upper.map(() => 0), upper };
}

/**
 * The index a value v in [0, u] decodes to: floor(v) when v is not an integer, v - 1 when it is,
 * except that 0 decodes to 0. Every index is in 0..u-1.
 */
export function decodeIndex(v: number, upper: number): number {
  if (!Number.isFinite(v) || v < 0 || v > upper) {
    throw new RangeError(`encoding: value ${v} outside its bounds [0, ${upper}]`);
  }
  return Number.isInteger(v) ? Math.max(v - 1, 0) : Math.floor(v);
}

function stepsOf(vector: readonly number[]): number {
  if (!Array.isArray(vector) || vector.length === 0 || vector.length % (CELL_TYPES.length * PER_NODE) !== 0) {
    throw new RangeError(
      `encoding: vector length must be a positive multiple of ${CELL_TYPES.length * PER_NODE}, ` +
        `got ${Array.isArray(vector) ? vector.length : typeof vector}`,
    );
  }
  return vector.length / (CELL_TYPES.length * PER_NODE);
}

/** Decodes a vector in the bounds into a genotype; concat is every intermediate node. */
export function decodeVector(
  vector: readonly number[],
  primitives: readonly string[] = PRIMITIVES,
): Genotype {
  const steps = stepsOf(vector);
  checkPrimitives(primitives);
  const bounds = encodingBounds(steps, primitives);
  const index = (k: number): number => {
    try {
      return decodeIndex(vector[k], bounds.upper[k]);
    } catch {
      throw new RangeError(
        `encoding: vector[${k}] = ${vector[k]} outside its bounds [0, ${bounds.upper[k]}]`,
      );
    }
  };
  const cells = CELL_TYPES.map((_, c) => {
    const edges: Edge[] = [];
    for (let j = 0; j < steps; j++) {
      const k = (c * steps + j) * PER_NODE;
      edges.push([primitives[index(k + 1)], index(k)], [primitives[index(k + 3)], index(k + 2)]);
    }
    return edges;
  });
  const concat = Array.from({ length: steps }, (_, j) => j + 2);
  return { normal: cells[0], normalConcat: concat, reduce: cells[1], reduceConcat: [...concat] };
}

/**
 * A vector that decodes to `genotype`: each index i becomes i + 0.5, the middle of its cell of
 * the real line, so that small moves do not change the architecture. The genotype must use only
 * `primitives`, the same steps in both cells, and concatenate every intermediate node in order.
 */
export function encodeGenotype(genotype: Genotype, primitives: readonly string[] = PRIMITIVES): number[] {
  validateGenotype(genotype);
  checkPrimitives(primitives);
  const steps = cellSteps(genotype.normal);
  if (cellSteps(genotype.reduce) !== steps) {
    throw new GenotypeError(
      `genotype: cannot encode cells with different step counts (normal ${steps}, reduce ${cellSteps(genotype.reduce)})`,
    );
  }
  const vector: number[] = [];
  for (const cell of CELL_TYPES) {
    const concatField = cell === 'normal' ? 'normalConcat' : 'reduceConcat';
    const concat = genotype[concatField];
    if (concat.length !== steps || concat.some((state, i) => state !== i + 2)) {
      throw new GenotypeError(
        `genotype: ${concatField} ${JSON.stringify(concat)} cannot be encoded: ` +
          `the encoding always concatenates every intermediate node, [${Array.from({ length: steps }, (_, j) => j + 2)}]`,
      );
    }
    genotype[cell].forEach(([op, input], e) => {
      const opIndex = primitives.indexOf(op);
      if (opIndex < 0) {
        throw new GenotypeError(
          `genotype: ${cell}[${e}]: op ${JSON.stringify(op)} is not a search primitive (${primitives.join(', ')})`,
        );
      }
      // Edge order in the vector is [in, op] per edge.
      vector.push(input + 0.5, opIndex + 0.5);
    });
  }
  return vector;
}

/** Each coordinate clipped into its bounds (NaN is refused: it has no place to go). */
export function clipToBounds(vector: readonly number[], bounds: EncodingBounds): number[] {
  if (vector.length !== bounds.lower.length || vector.length !== bounds.upper.length) {
    throw new RangeError(
      `encoding: vector length ${vector.length} does not match the bounds (${bounds.lower.length})`,
    );
  }
  return vector.map((v, k) => {
    if (Number.isNaN(v)) throw new RangeError(`encoding: vector[${k}] is NaN`);
    return Math.min(Math.max(v, bounds.lower[k]), bounds.upper[k]);
  });
}

/**
 * A vector uniform in the bounds, drawn coordinate by coordinate from `random` (uniform in
 * [0, 1), e.g. `() => rng.next()` of the search's seeded generator).
 */
export function randomVector(
  steps: number,
  random: () => number,
  primitives: readonly string[] = PRIMITIVES,
): number[] {
  const { lower, upper } = encodingBounds(steps, primitives);
  return lower.map((lo, k) => {
    const r = random();
    if (!(r >= 0 && r < 1))
      throw new RangeError(`encoding: random() must return a number in [0, 1), got ${r}`);
    return lo + (upper[k] - lo) * r;
  });
}
