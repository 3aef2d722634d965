// The search network (RELATIVENAS.md section 6): the CIFAR network of section 4 without the
// auxiliary head, built for each decoded genotype. Everything the search needs to know about its
// shape is here, so the weight set and the evaluators agree on it.
import type { Edge, Genotype, OpName } from '../genotype';
import { searchModuleIndices } from '../cell';
import { Network, type NetworkSpec } from '../network';
import type { ParamInfo } from '../params';

export interface SearchNetworkConfig {
  /** Cells in the search network (8 in the paper). */
  readonly layers: number;
  /** Initial channels C (16 in the paper). */
  readonly channels: number;
  readonly classes: number;
  /** Image channels. */
  readonly inChannels: number;
  /** Intermediate nodes per cell (4 in the search space). */
  readonly steps: number;
  /** Candidate ops in encoding order. */
  readonly primitives: readonly OpName[];
}

/** Cell i reduces at `layers // 3` and `2 * layers // 3`, as in the network builder. */
export function isReductionCell(cell: number, layers: number): boolean {
  return cell === Math.floor(layers / 3) || cell === Math.floor((2 * layers) / 3);
}

export function searchNetworkSpec(config: SearchNetworkConfig, genotype: Genotype): NetworkSpec {
  return {
    variant: 'cifar',
    genotype,
    channels: config.channels,
    layers: config.layers,
    classes: config.classes,
    inChannels: config.inChannels,
    auxiliary: false,
    searchPrimitives: config.primitives,
  };
}

/** Every parameter and buffer of the search network of `genotype`, under reference names. */
export function searchNetworkParams(config: SearchNetworkConfig, genotype: Genotype): readonly ParamInfo[] {
  return new Network(searchNetworkSpec(config, genotype)).params;
}

/**
 * Genotypes that together use every (node, input, op) module of the search network: for each op
 * and each input i, both edges of node j read state min(i, j + 1) with that op. The weight set's
 * layout is the union of their networks' tensors: the reference search network's state dict.
 */
export function coverGenotypes(config: SearchNetworkConfig): Genotype[] {
  const concat = Array.from({ length: config.steps }, (_, j) => j + 2);
  const out: Genotype[] = [];
  for (const op of config.primitives) {
    for (let input = 0; input <= config.steps; input++) {
      const edges = Array.from({ length: 2 * config.steps }, (_, e): Edge => [
        op,
        Math.min(input, (e >> 1) + 1),
      ]);
      out.push({ normal: edges, normalConcat: concat, reduce: edges, reduceConcat: concat });
    }
  }
  return out;
}

/**
 * Which weights a loss on the network's logits depends on. A cell whose nodes never read one of
 * its inputs still computes that input's preprocessing, but nothing downstream uses it; the same
 * goes for a whole cell whose output no later cell reads. PyTorch leaves such weights with no
 * gradient and SGD skips them; here they are left out of what gets differentiated, to the same
 * effect (tfjs refuses to differentiate with respect to a tensor the loss does not reach).
 */
export function reachedWeights(config: SearchNetworkConfig, genotype: Genotype): (name: string) => boolean {
  const layers = config.layers;
  const cells = Array.from({ length: layers }, (_, i) => {
    const reduction = isReductionCell(i, layers);
    const edges = reduction ? genotype.reduce : genotype.normal;
    const concat = new Set(reduction ? genotype.reduceConcat : genotype.normalConcat);
    const steps = edges.length / 2;
    const nodeUsed = new Array<boolean>(steps + 2).fill(false);
    for (let j = steps - 1; j >= 0; j--) {
      const state = j + 2;
      nodeUsed[state] =
        concat.has(state) || edges.some(([, input], e) => input === state && nodeUsed[(e >> 1) + 2]);
    }
    const edgeUsed = edges.map((_, e) => nodeUsed[(e >> 1) + 2]);
    const reads = (k: number): boolean => edges.some(([, input], e) => input === k && edgeUsed[e]);
    // A module shared by two edges is reached when either edge is.
    const modules = searchModuleIndices(edges, config.primitives);
    const moduleUsed = new Set(modules.filter((_, e) => edgeUsed[e]));
    return { moduleUsed, reads0: reads(0), reads1: reads(1) };
  });
  const cellUsed = new Array<boolean>(layers).fill(false);
  for (let i = layers - 1; i >= 0; i--) {
    cellUsed[i] =
      i === layers - 1 ||
      (cellUsed[i + 1] && cells[i + 1].reads1) ||
      (i + 2 < layers && cellUsed[i + 2] && cells[i + 2].reads0);
  }
  const stemUsed =
    (cellUsed[0] && (cells[0].reads0 || cells[0].reads1)) || (layers > 1 && cellUsed[1] && cells[1].reads0);
  return (name) => {
    if (name.startsWith('stem')) return stemUsed;
    const m = /^cells\.(\d+)\.(preprocess([01])|_ops\.(\d+))\./.exec(name);
    if (m === null) return true;
    const i = Number(m[1]);
    if (!cellUsed[i]) return false;
    if (m[3] !== undefined) return m[3] === '0' ? cells[i].reads0 : cells[i].reads1;
    return cells[i].moduleUsed.has(Number(m[4]));
  };
}

/**
 * The search network of a genotype for `trainStep`: its `params` lists every buffer but only the
 * weights the loss reaches (see `reachedWeights`); `allParams` is the complete list, for loading
 * and saving.
 */
export class TrainableSearchNetwork extends Network {
  override readonly params: readonly ParamInfo[];
  readonly allParams: readonly ParamInfo[];

  constructor(config: SearchNetworkConfig, genotype: Genotype) {
    super(searchNetworkSpec(config, genotype));
    const reached = reachedWeights(config, genotype);
    // The base class's list is replaced by this field's own, so take the full list from a twin.
    this.allParams = searchNetworkParams(config, genotype);
    this.params = this.allParams.filter((p) => p.kind === 'buffer' || reached(p.name));
  }
}
