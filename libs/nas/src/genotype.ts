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
