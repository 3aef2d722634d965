// The weight set W of slow-fast learning (RELATIVENAS.md section 6): parameters and batch-norm
// running statistics for every (cell, node, input, op) module of the search network, plus the
// stem, the cell preprocessing and the classifier, so that any decoded architecture can load its
// weights from it, and the update rule that writes a compared pair back.
//
// Names and identity are the reference's (`model_search.py`): cell c holds, for node j, (2 + j) x
// |primitives| modules (inputs s0, s1 and the j earlier nodes, each with every primitive) at index
// `(cur_j + input) * |primitives| + op`, named `cells.{c}._ops.{index}...`. The two edges of a node
// that pick the same input and op use the same module (see `CellConfig.searchPrimitives`). W is
// therefore exactly the state dict of the reference's search network, whatever genotype it was
// built for: `toTensors()` writes it (with PyTorch's `num_batches_tracked` counters, as zeros) so
// that `NetworkCIFAR.load_state_dict(strict=True)` of `model_search.py` takes it, and
// `fromTensors()` reads such a state dict back. Tensors are held in the reference layouts (conv
// `[out, in, kh, kw]`, ...).
//
// Memory. W is initialised eagerly: with 4 steps a cell holds 14 x 7 candidate modules. For the
// default search network (8 cells, 16 channels, 10 classes, 7 primitives) that is 2,043,866 floats (8 MB)
// (see the test that pins the number); a decoded network reads about 1/7 of the cells' modules.
import type { HostTensor, SafetensorsFile } from '@rnas/engine';
import type { Genotype } from '../genotype';
import { BATCHES_TRACKED_SUFFIX, disposeParams, exportParams, initParams, type ParamInfo } from '../params';
import { coverGenotypes, searchNetworkParams, type SearchNetworkConfig } from './search-network';

/** A network's tensors by reference name, in the reference layout (what `exportParams` gives). */
export type HostParams = Record<string, HostTensor>;

/** One side of a comparison: the genotype and the tensors its network ended training with. */
export interface TrainedCandidate {
  genotype: Genotype;
  params: HostParams;
}

const EDGE_NAME = /^cells\.(\d+)\._ops\.(\d+)\.(.+)$/;

/** Metadata `format` of a stored weight set; /1 keyed ops by edge slot and cannot be read. */
export const WEIGHT_SET_FORMAT = 'rnas-weight-set/2';

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

/** Every tensor of W with its shape and initialisation, in a fixed order. */
export function weightSetLayout(config: SearchNetworkConfig): ParamInfo[] {
  const layout = new Map<string, ParamInfo>();
  for (const genotype of coverGenotypes(config)) {
    for (const info of searchNetworkParams(config, genotype)) {
      const name = info.name;
      const known = layout.get(name);
      if (known === undefined) layout.set(name, info);
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
   * A weight set from stored tensors: a checkpoint, or a state dict of the reference's search
   * network (no `format` metadata; its `num_batches_tracked` counters are accepted and not kept).
   * Every tensor of the layout must be there as F32 with its shape, and nothing else may be.
   */
  static fromTensors(config: SearchNetworkConfig, file: SafetensorsFile, source = 'weight set'): WeightSet {
    const format = file.metadata.format;
    if (format !== undefined && format !== WEIGHT_SET_FORMAT) {
      throw new Error(
        `${source}: metadata format is ${JSON.stringify(format)}, expected "${WEIGHT_SET_FORMAT}"` +
          (format === 'rnas-weight-set/1'
            ? ' (written by an older version that kept one module per edge slot; start the search again)'
            : ''),
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
      if (expected.has(name)) continue;
      if (
        name.endsWith(BATCHES_TRACKED_SUFFIX) &&
        expected.has(`${name.slice(0, -BATCHES_TRACKED_SUFFIX.length)}.running_mean`)
      ) {
        continue;
      }
      throw new Error(`${source}: unexpected tensor '${name}'`);
    }
    return new WeightSet(config, new Map(layout.map((p) => [p.name, p])), tensors);
  }

  /**
   * The tensors and metadata to store (`encodeSafetensors` / `writeSafetensors`): the reference
   * search network's state dict, `num_batches_tracked` included (as 0: momentum batch norm does not
   * read it, and W does not count batches).
   */
  toTensors(): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
    const tensors: Record<string, HostTensor> = Object.create(null);
    for (const name of this.layout.keys()) {
      tensors[name] = this.get(name);
      if (name.endsWith('.running_var')) {
        const counter = `${name.slice(0, -'.running_var'.length)}${BATCHES_TRACKED_SUFFIX}`;
        tensors[counter] = { dtype: 'I64', shape: [], data: BigInt64Array.from([0n]) };
      }
    }
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
      const t = this.get(info.name);
      out[info.name] = { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() };
    }
    return out;
  }

  /**
   * The update rule after a comparison: every tensor of the teacher's network (its ops, and the
   * stem, preprocessing and classifier) is taken from the teacher; the ops only the student uses
   * are taken from the student; everything else (ops neither uses) stays as it is, which is the
   * teacher's copy since the teacher did not train them (the reference's `update_state_dict`).
   * Ops are matched by module: the same cell, node, input state and op.
   */
  applyComparison(teacher: TrainedCandidate, student: TrainedCandidate): void {
    const writes = new Map<string, HostTensor>();
    for (const [name, t] of Object.entries(teacher.params)) {
      if (name.endsWith(BATCHES_TRACKED_SUFFIX)) continue;
      writes.set(this.checked('teacher', name, t), t);
    }
    for (const [name, t] of Object.entries(student.params)) {
      if (!isEdgeOpName(name) || name.endsWith(BATCHES_TRACKED_SUFFIX)) continue;
      const key = this.checked('student', name, t);
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

  private checked(who: string, name: string, t: HostTensor): string {
    const info = this.layout.get(name);
    if (info === undefined) throw new Error(`weight set: ${who} tensor '${name}' is not in the weight set`);
    checkTensor(`weight set: ${who}`, info, t);
    return name;
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
