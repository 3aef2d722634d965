import { z } from 'zod';

/** The search primitives in encoding order (RELATIVENAS.md section 2): the encoding indexes this tuple. */
export const PRIMITIVES = [
  'max_pool_3x3',
  'avg_pool_3x3',
  'skip_connect',
  'sep_conv_3x3',
  'sep_conv_5x5',
  'dil_conv_3x3',
  'dil_conv_5x5',
] as const;

/** Every op name the op table knows: the primitives plus those only published genotypes use. */
export const OP_NAMES = [...PRIMITIVES, 'none', 'sep_conv_7x7', 'conv_7x1_1x7'] as const;

export type Primitive = (typeof PRIMITIVES)[number];
export type OpName = (typeof OP_NAMES)[number];

/** One edge of a cell: `[op, input state]`. Edges 2j and 2j+1 feed intermediate node j (state j+2). */
export type Edge = [op: OpName, input: number];

/** A DARTS-family genotype as plain data; its JSON form is exactly this object. */
export interface Genotype {
  normal: Edge[];
  normalConcat: number[];
  reduce: Edge[];
  reduceConcat: number[];
}

/** The two cell types, in the order the encoding and the reference use them. */
export const CELL_TYPES = ['normal', 'reduce'] as const;
export type CellType = (typeof CELL_TYPES)[number];

/** A genotype that breaks a rule; the message names the cell, the edge or concat entry and the value. */
export class GenotypeError extends Error {
  override name = 'GenotypeError';
}

export function isOpName(name: unknown): name is OpName {
  return typeof name === 'string' && (OP_NAMES as readonly string[]).includes(name);
}

/** Intermediate nodes of a cell: two edges per node. */
export function cellSteps(edges: readonly Edge[]): number {
  return edges.length / 2;
}

function fmt(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // BigInts and cyclic objects have no JSON form.
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function checkCell(genotype: Genotype, cell: CellType, source: string): void {
  const fail = (message: string): never => {
    throw new GenotypeError(`${source}: ${message}`);
  };
  const edges: unknown = genotype[cell];
  if (!Array.isArray(edges)) {
    return fail(`${cell}: expected an array of [op, input] edges, got ${fmt(edges)}`);
  }
  if (edges.length === 0) fail(`${cell}: a cell needs at least one node (2 edges), got none`);
  if (edges.length % 2 !== 0) {
    fail(`${cell}: expected an even number of edges (2 per node), got ${edges.length}`);
  }
  edges.forEach((edge: unknown, e) => {
    if (!Array.isArray(edge) || edge.length !== 2) {
      fail(`${cell}[${e}]: expected [op, input], got ${fmt(edge)}`);
    }
    const [op, input] = edge as unknown[];
    const node = Math.floor(e / 2);
    if (!isOpName(op)) fail(`${cell}[${e}]: unknown op ${fmt(op)}; expected one of ${OP_NAMES.join(', ')}`);
    if (typeof input !== 'number' || !Number.isInteger(input) || input < 0 || input > node + 1) {
      fail(`${cell}[${e}]: input ${fmt(input)} out of range 0..${node + 1} for node ${node}`);
    }
  });
  const concatField = cell === 'normal' ? 'normalConcat' : 'reduceConcat';
  const concat: unknown = genotype[concatField];
  if (!Array.isArray(concat)) return fail(`${concatField}: expected an array of states, got ${fmt(concat)}`);
  if (concat.length === 0) fail(`${concatField}: a cell must output at least one state, got none`);
  const lastState = edges.length / 2 + 1;
  const seen = new Set<number>();
  concat.forEach((state: unknown, i) => {
    if (typeof state !== 'number' || !Number.isInteger(state) || state < 0 || state > lastState) {
      fail(`${concatField}[${i}]: state ${fmt(state)} out of range 0..${lastState}`);
    }
    if (seen.has(state as number)) fail(`${concatField}[${i}]: state ${state} listed twice`);
    seen.add(state as number);
  });
}

/**
 * Checks the rules of RELATIVENAS.md section 2 for any number of steps: 2 edges per node, known
 * ops, node j reading only states 0..j+1, and concat entries that exist and appear once.
 * `source` (a genotype name or file) prefixes the error.
 */
export function validateGenotype(genotype: Genotype, source = 'genotype'): void {
  if (typeof genotype !== 'object' || genotype === null || Array.isArray(genotype)) {
    throw new GenotypeError(`${source}: expected a genotype object, got ${fmt(genotype)}`);
  }
  for (const cell of CELL_TYPES) checkCell(genotype, cell, source);
}

/** A deep copy, so that callers never share (and mutate) published constants. */
export function cloneGenotype(genotype: Genotype): Genotype {
  return {
    normal: genotype.normal.map(([op, input]): Edge => [op, input]),
    normalConcat: [...genotype.normalConcat],
    reduce: genotype.reduce.map(([op, input]): Edge => [op, input]),
    reduceConcat: [...genotype.reduceConcat],
  };
}

export function genotypesEqual(a: Genotype, b: Genotype): boolean {
  const same = <T>(x: readonly T[], y: readonly T[], eq: (p: T, q: T) => boolean): boolean =>
    x.length === y.length && x.every((v, i) => eq(v, y[i]));
  const edge = (p: Edge, q: Edge): boolean => p[0] === q[0] && p[1] === q[1];
  const num = (p: number, q: number): boolean => p === q;
  return (
    same(a.normal, b.normal, edge) &&
    same(a.reduce, b.reduce, edge) &&
    same(a.normalConcat, b.normalConcat, num) &&
    same(a.reduceConcat, b.reduceConcat, num)
  );
}

/** The JSON form's shape (`{"normal": [["sep_conv_3x3", 0], ...], "normalConcat": [2, 3, 4, 5], ...}`). */
export const GenotypeJsonSchema = z.strictObject({
  normal: z.array(z.tuple([z.string(), z.number()])),
  normalConcat: z.array(z.number()),
  reduce: z.array(z.tuple([z.string(), z.number()])),
  reduceConcat: z.array(z.number()),
});

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i > 0 ? '.' : ''}${String(key)}`))
    .join('');
}

/**
 * Parses the JSON form (already `JSON.parse`d) into a validated genotype: the shape first, with
 * the path of the first bad field, then the rules of `validateGenotype`. Returns a fresh copy.
 */
export function genotypeFromJson(value: unknown, source = 'genotype'): Genotype {
  const parsed = GenotypeJsonSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : '';
    throw new GenotypeError(`${source}: ${where}${issue.message}`);
  }
  const genotype = parsed.data as Genotype;
  validateGenotype(genotype, source);
  return cloneGenotype(genotype);
}
