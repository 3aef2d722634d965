// The weight set W of slow-fast learning (RELATIVENAS.md section 6): parameters and batch-norm
// running statistics for every op on every edge of every cell of the search network, plus the
// stem, the cell preprocessing and the classifier, so that any decoded architecture can load its
// weights from it, and the update rule that writes a compared pair back.
//
// Names. A decoded network names its tensors by reference name (`cells.{c}._ops.{e}.op.{k}.weight`
// for edge e of cell c). In W an edge's tensors also carry what the edge computes: the state it
// reads and its op, `cells.{c}._ops.{e}.input{i}.{op}.op.{k}.weight`. Edge e = 2j + slot feeds node
// j; keeping e in the name means the two edges of one node never share tensors, even when both
// read the same state with the same op (a network built from that genotype has two separate
// modules there, so W must hold two). Everything that is not an edge op (stem, preprocess0/1,
// classifier) keeps its reference name: its shape depends only on the cell's position. Tensors are
// held in the reference layouts (conv `[out, in, kh, kw]`, ...), like a PyTorch state dict.
//
// Memory. W is initialised eagerly: node j offers 2 edges x (j + 2) inputs x |primitives| ops, so
// with 4 steps a cell holds 28 x 7 candidate ops, twice the DARTS supernet's 14 x 7. For the
// default search network (8 cells, 16 channels, 10 classes, 7 primitives) that is 3.99 M floats,
// 16 MB (see the test that pins the number); a decoded network reads about 1/14 of it.
import type { HostTensor, SafetensorsFile } from '@rnas/engine';
import type { Genotype } from '../genotype';
import { BATCHES_TRACKED_SUFFIX, disposeParams, exportParams, initParams, type ParamInfo } from '../params';
import {
  coverGenotypes,
  searchNetworkParams,
  type SearchNetworkConfig,
  isReductionCell,
} from './search-network';

/** A network's tensors by reference name, in the reference layout (what `exportParams` gives). */
export type HostParams = Record<string, HostTensor>;

/** One side of a comparison: the genotype and the tensors its network ended training with. */
export interface TrainedCandidate {
  genotype: Genotype;
  params: HostParams;
}

const EDGE_NAME = /^cells\.(\d+)\._ops\.(\d+)\.(.+)$/;

export const WEIGHT_SET_FORMAT = 'rnas-weight-set/1';

/** The weight-set name of a network tensor (see the comment at the top of this file). */
export function weightSetName(networkName: string, genotype: Genotype, layers: number): string {
  const m = EDGE_NAME.exec(networkName);
  if (m === null) return networkName;
  const cell = Number(m[1]);
  const edge = Number(m[2]);
  const edges = isReductionCell(cell, layers) ? genotype.reduce : genotype.normal;
  if (cell >= layers || edge >= edges.length) {
    throw new Error(`weight set: tensor '${networkName}' names an edge the genotype does not have`);
  }
  const [op, input] = edges[edge];
  return `cells.${cell}._ops.${edge}.input${input}.${op}.${m[3]}`;
}

/** True for the tensors of an edge op (as opposed to stem, preprocessing, classifier). */
export function isEdgeOpName(name: string): boolean {
  return EDGE_NAME.test(name);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function renamed(info: ParamInfo, name: string): ParamInfo {
  return { ...info, name };
}

/** Every tensor of W with its shape and initialisation, in a fixed order. */
export function weightSetLayout(config: SearchNetworkConfig): ParamInfo[] {
  const layout = new Map<string, ParamInfo>();
  for (const genotype of coverGenotypes(config)) {
    for (const info of searchNetworkParams(config, genotype)) {
      const name = weightSetName(info.name, genotype, config.layers);
      const known = layout.get(name);
      if (known === undefined) layout.set(name, renamed(info, name));
      else if (!sameShape(known.refShape, info.refShape)) {
        throw new Error(`weight set: '${name}' has two shapes, [${known.refShape}] and [${info.refShape}]`);
      }
    }
  }
  return [...layout.values()];
}

export class WeightSet {
  private constructor(
    readonly config: SearchNetworkConfig,
    private readonly layout: ReadonlyMap<string, ParamInfo>,
    private readonly tensors: Map<string, HostTensor>,
  ) {}

  /** A weight set with PyTorch's default initialisation, reproducible from `seed`. */
  static initialise(config: SearchNetworkConfig, seed: number): WeightSet {
    const layout = weightSetLayout(config);
    const values = initParams(layout, seed);
    try {
      const host = exportParams(layout, values);
      return new WeightSet(config, new Map(layout.map((p) => [p.name, p])), new Map(Object.entries(host)));
    } finally {
      disposeParams(values);
    }
  }

  /**
   * A weight set from stored tensors (a checkpoint): every tensor of the layout must be there as
   * F32 with its shape, and nothing else may be.
   */
  static fromTensors(config: SearchNetworkConfig, file: SafetensorsFile, source = 'weight set'): WeightSet {
    if (file.metadata.format !== WEIGHT_SET_FORMAT) {
      throw new Error(
        `${source}: metadata format is ${JSON.stringify(file.metadata.format)}, expected "${WEIGHT_SET_FORMAT}"`,
      );
    }
    const layout = weightSetLayout(config);
    const tensors = new Map<string, HostTensor>();
    for (const p of layout) {
      const t = file.tensors[p.name];
      if (t === undefined) throw new Error(`${source}: missing tensor '${p.name}'`);
      checkTensor(source, p, t);
      tensors.set(p.name, t);
    }
    const expected = new Set(layout.map((p) => p.name));
    for (const name of Object.keys(file.tensors)) {
      if (!expected.has(name)) throw new Error(`${source}: unexpected tensor '${name}'`);
    }
    return new WeightSet(config, new Map(layout.map((p) => [p.name, p])), tensors);
  }

  /** The tensors and metadata to store (`encodeSafetensors` / `writeSafetensors`). */
  toTensors(): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
    const tensors: Record<string, HostTensor> = Object.create(null);
    for (const name of this.layout.keys()) tensors[name] = this.get(name);
    return { tensors, metadata: { format: WEIGHT_SET_FORMAT } };
  }

  /** Number of tensors. */
  get size(): number {
    return this.tensors.size;
  }

  /** Number of float32 values held (parameters and running statistics). */
  get values(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += numel(t.shape);
    return n;
  }

  names(): string[] {
    return [...this.layout.keys()];
  }

  get(name: string): HostTensor {
    const t = this.tensors.get(name);
    if (t === undefined) throw new Error(`weight set: no tensor '${name}'`);
    return t;
  }

  /**
   * The tensors a network decoded from `genotype` loads, under its own reference names, as
   * copies: training them, or later updates of W, leave the other side untouched.
   */
  paramsFor(genotype: Genotype): HostParams {
    const out: HostParams = {};
    for (const info of searchNetworkParams(this.config, genotype)) {
      const t = this.get(weightSetName(info.name, genotype, this.config.layers));
      out[info.name] = { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() };
    }
    return out;
  }

  /**
   * The update rule after a comparison: every tensor of the teacher's network (its ops, and the
   * stem, preprocessing and classifier) is taken from the teacher; the ops only the student uses
   * are taken from the student; everything else (ops neither uses) stays as it is, which is the
   * teacher's copy since the teacher did not train them. Ops are matched by weight-set name, so
   * "the same op" means the same edge slot, input state and op.
   */
  applyComparison(teacher: TrainedCandidate, student: TrainedCandidate): void {
    const writes = new Map<string, HostTensor>();
    for (const [name, t] of Object.entries(teacher.params)) {
      if (name.endsWith(BATCHES_TRACKED_SUFFIX)) continue;
      writes.set(this.checked('teacher', name, teacher.genotype, t), t);
    }
    for (const [name, t] of Object.entries(student.params)) {
      if (!isEdgeOpName(name) || name.endsWith(BATCHES_TRACKED_SUFFIX)) continue;
      const key = this.checked('student', name, student.genotype, t);
      if (!writes.has(key)) writes.set(key, t);
    }
    // Validate everything before changing anything, so a bad result never leaves W half-updated.
    for (const [key, t] of writes) {
      this.tensors.set(key, {
        dtype: 'F32',
        shape: [...t.shape],
        data: Float32Array.from(t.data as Float32Array),
      });
    }
  }

  private checked(who: string, name: string, genotype: Genotype, t: HostTensor): string {
    const key = weightSetName(name, genotype, this.config.layers);
    const info = this.layout.get(key);
    if (info === undefined)
      throw new Error(`weight set: ${who} tensor '${name}' (as '${key}') is not in the weight set`);
    checkTensor(`weight set: ${who}`, info, t);
    return key;
  }
}

function checkTensor(source: string, p: ParamInfo, t: HostTensor): void {
  if (t.dtype !== 'F32') throw new Error(`${source}: tensor '${p.name}' has dtype ${t.dtype}, expected F32`);
  if (!sameShape(t.shape, p.refShape)) {
    throw new Error(
      `${source}: tensor '${p.name}' has shape [${t.shape.join(', ')}], expected [${p.refShape.join(', ')}]`,
    );
  }
  if (t.data.length !== numel(p.refShape)) {
    throw new Error(
      `${source}: tensor '${p.name}' holds ${t.data.length} values, expected ${numel(p.refShape)}`,
    );
  }
}
