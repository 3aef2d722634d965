import { tf, type Tensor4D } from '@rnas/engine';
import { checkpointed } from './checkpoint';
import type { Edge, OpName } from './genotype';
import {
  FactorizedReduce,
  Identity,
  reluConvBn,
  type ForwardContext,
  type Module,
  type Shape3,
  type Trace,
} from './layers';
import { OPS } from './ops';
import type { ParamInfo } from './params';

/** Where a cell sits in its network and what it is built from (the reference `Cell` arguments). */
export interface CellConfig {
  /** Name prefix of the cell's parameters, `cells.{i}`. */
  readonly prefix: string;
  /** Edges 2j and 2j+1 feed intermediate node j (state j+2); any even number of edges. */
  readonly edges: readonly Edge[];
  /** States whose concatenation is the cell's output. */
  readonly concat: readonly number[];
  readonly cPrevPrev: number;
  readonly cPrev: number;
  readonly c: number;
  readonly reduction: boolean;
  readonly reductionPrev: boolean;
  /**
   * The search network's module identity (the reference `model_search.py`): when set, the op of
   * edge 2j+s reading state i is module `(cur_j + i) * |primitives| + primitives.indexOf(op)` with
   * `cur_j = sum_{k<j} (2 + k)`, named `{prefix}._ops.{index}`; the two edges of a node that pick the
   * same input and op share that one module, which then runs (and trains) twice. Unset: the
   * evaluation network's one module per edge, `{prefix}._ops.{e}`.
   */
  readonly searchPrimitives?: readonly OpName[];
}

/** The reference search network's module index of each edge (see `CellConfig.searchPrimitives`). */
export function searchModuleIndices(edges: readonly Edge[], primitives: readonly OpName[]): number[] {
  return edges.map(([op, input], e) => {
    const j = e >> 1;
    const k = primitives.indexOf(op);
    if (k < 0) throw new Error(`edge ${e}: op '${op}' is not one of the search primitives`);
    // cur_j = sum_{k<j} (2 + k) = 2j + j(j-1)/2 modules belong to the nodes before node j.
    const cur = 2 * j + (j * (j - 1)) / 2;
    return (cur + input) * primitives.length + k;
  });
}

/** A DARTS cell: two preprocessed inputs, `edges.length / 2` nodes, channel concat of `concat`. */
export class Cell {
  readonly params: readonly ParamInfo[];
  readonly steps: number;
  /** Output channels: `concat.length * c`. */
  readonly outChannels: number;
  private readonly preprocess0: Module;
  private readonly preprocess1: Module;
  private readonly ops: readonly Module[];
  private readonly inputs: readonly number[];
  /** The name prefix of each edge's module (`cells.{i}._ops.{k}`); shared modules repeat. */
  readonly opNames: readonly string[];

  constructor(readonly config: CellConfig) {
    const { prefix, edges, concat, cPrevPrev, cPrev, c, reduction, reductionPrev } = config;
    if (edges.length === 0 || edges.length % 2 !== 0) {
      throw new Error(`${prefix}: a cell needs a positive even number of edges, got ${edges.length}`);
    }
    this.steps = edges.length / 2;
    edges.forEach(([op, input], e) => {
      if (!Object.hasOwn(OPS, op)) throw new Error(`${prefix}: edge ${e} has unknown op '${String(op)}'`);
      const limit = 2 + Math.floor(e / 2);
      if (!Number.isInteger(input) || input < 0 || input >= limit) {
        throw new Error(
          `${prefix}: edge ${e} reads state ${input}, expected an integer in [0, ${limit - 1}]`,
        );
      }
    });
    if (concat.length === 0) throw new Error(`${prefix}: concat is empty`);
    for (const s of concat) {
      if (!Number.isInteger(s) || s < 0 || s >= 2 + this.steps) {
        throw new Error(`${prefix}: concat lists state ${s}, expected an integer in [0, ${1 + this.steps}]`);
      }
    }
    this.preprocess0 = reductionPrev
      ? new FactorizedReduce(`${prefix}.preprocess0`, cPrevPrev, c)
      : reluConvBn(`${prefix}.preprocess0`, cPrevPrev, c);
    this.preprocess1 = reluConvBn(`${prefix}.preprocess1`, cPrev, c);
    const moduleNames =
      config.searchPrimitives === undefined
        ? edges.map((_, e) => `${prefix}._ops.${e}`)
        : searchModuleIndices(edges, config.searchPrimitives).map((k) => `${prefix}._ops.${k}`);
    // One module per name: two edges naming the same module run the same object (shared weights).
    const modules = new Map<string, Module>();
    this.ops = edges.map(([op, input], e) => {
      const name = moduleNames[e];
      let module = modules.get(name);
      if (module === undefined) {
        module = OPS[op](c, reduction && input < 2 ? 2 : 1, name);
        modules.set(name, module);
      }
      return module;
    });
    this.opNames = moduleNames;
    this.inputs = edges.map(([, input]) => input);
    this.outChannels = concat.length * c;
    this.params = [
      ...this.preprocess0.params,
      ...this.preprocess1.params,
      ...[...modules.values()].flatMap((op) => op.params),
    ];
  }

  trace(s0: Shape3, s1: Shape3): Trace {
    const p0 = this.preprocess0.trace(s0);
    const p1 = this.preprocess1.trace(s1);
    if (!sameShape(p0.shape, p1.shape)) {
      throw new Error(
        `${this.config.prefix}: inputs do not line up after preprocessing (${fmt(p0.shape)} vs ${fmt(p1.shape)})`,
      );
    }
    let macs = p0.macs + p1.macs;
    let activations = p0.activations + p1.activations;
    const states: Shape3[] = [p0.shape, p1.shape];
    for (let j = 0; j < this.steps; j++) {
      const a = this.ops[2 * j].trace(states[this.inputs[2 * j]]);
      const b = this.ops[2 * j + 1].trace(states[this.inputs[2 * j + 1]]);
      if (!sameShape(a.shape, b.shape)) {
        throw new Error(
          `${this.config.prefix}: node ${j} sums edges of shapes ${fmt(a.shape)} and ${fmt(b.shape)}`,
        );
      }
      macs += a.macs + b.macs;
      // The two edges and their sum.
      activations += a.activations + b.activations + a.shape[0] * a.shape[1] * a.shape[2];
      states.push(a.shape);
    }
    const first = states[this.config.concat[0]];
    for (const s of this.config.concat) {
      if (states[s][0] !== first[0] || states[s][1] !== first[1]) {
        throw new Error(`${this.config.prefix}: concat mixes sizes ${fmt(first)} and ${fmt(states[s])}`);
      }
    }
    const shape: Shape3 = [first[0], first[1], this.outChannels];
    return { shape, macs, activations: activations + shape[0] * shape[1] * shape[2] };
  }

  /**
   * Each edge runs in its own scope and its output is freed once summed, so an inference pass holds
   * a few feature maps at a time rather than every intermediate of the cell (in training the
   * gradient tape keeps what it needs on its own).
   */
  apply(s0: Tensor4D, s1: Tensor4D, ctx: ForwardContext): Tensor4D {
    const states = [
      tf.tidy(() => this.run(this.preprocess0, s0, ctx)),
      tf.tidy(() => this.run(this.preprocess1, s1, ctx)),
    ];
    for (let j = 0; j < this.steps; j++) {
      const h1 = tf.tidy(() => this.edge(2 * j, states, ctx));
      const h2 = tf.tidy(() => this.edge(2 * j + 1, states, ctx));
      states.push(tf.add(h1, h2));
      // The identity hands back a state itself, which later nodes may still read.
      for (const h of [h1, h2]) if (!states.includes(h)) h.dispose();
    }
    const out = tf.concat(
      this.config.concat.map((s) => states[s]),
      3,
    );
    for (const s of states) s.dispose();
    return out;
  }

  private run(module: Module, x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const recompute = ctx.training && ctx.recompute && module.params.length > 0;
    return recompute ? checkpointed(module, x, ctx) : module.apply(x, ctx);
  }

  private edge(e: number, states: readonly Tensor4D[], ctx: ForwardContext): Tensor4D {
    const op = this.ops[e];
    const h = this.run(op, states[this.inputs[e]], ctx);
    const drop = ctx.dropPath;
    if (!ctx.training || drop === null || drop.prob <= 0 || op instanceof Identity) return h;
    return dropPath(h, drop.prob, drop.random);
  }
}

/** Zeroes each sample with probability `prob`, scaling survivors by 1/(1-prob), as the reference. */
export function dropPath(x: Tensor4D, prob: number, random: () => number): Tensor4D {
  const keep = 1 - prob;
  const n = x.shape[0];
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = random() < keep ? 1 : 0;
  return tf.mul(tf.div(x, keep), tf.tensor4d(mask, [n, 1, 1, 1]));
}

function sameShape(a: Shape3, b: Shape3): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
}

function fmt(s: Shape3): string {
  return `${s[0]}x${s[1]}x${s[2]}`;
}
