// What the dense tasks share about their backbone (DENSE.md section 1): the ImageNet-variant
// evaluation network without its classifier, its parameters under a prefix, and its weights taken
// by name from a published classification model (transfer).
import type { HostTensor } from '@rnas/engine';
import { genotypesEqual, importParams, type Network, type NetworkSpec, type ParamMap } from '@rnas/nas';

/** The backbone spec a dense head takes: ImageNet variant, no auxiliary head, two reductions. */
export function checkBackboneSpec(net: NetworkSpec, task: string): void {
  if (net.variant !== 'imagenet') {
    throw new Error(
      `${task}: network.variant must be 'imagenet' (stride-8 stem), got '${String(net.variant)}'`,
    );
  }
  if (net.auxiliary) {
    throw new Error(`${task}: network.auxiliary must be false (a ${task} network has no auxiliary head)`);
  }
  if (net.searchPrimitives !== undefined) {
    throw new Error(
      `${task}: network.searchPrimitives must be unset (the backbone is an evaluation network)`,
    );
  }
  if (!(net.layers >= 2)) {
    throw new Error(`${task}: network.layers must be at least 2 (two reduction cells), got ${net.layers}`);
  }
}

/** A task network with a backbone whose parameters are named `<backbonePrefix><reference name>`. */
export interface BackboneTarget {
  readonly backbone: Network;
  readonly backbonePrefix: string;
  readonly spec: { readonly network: NetworkSpec };
}

/** A classification model whose backbone seeds a dense network's: its spec and its weights (reference layout). */
export interface BackboneSource {
  readonly spec: NetworkSpec;
  readonly weights: Readonly<Record<string, HostTensor>>;
}

/**
 * The backbone parameters from a classification model, by name (`stem0.0.weight` →
 * `<prefix>stem0.0.weight`); its classifier, auxiliary head and batch counters are dropped. The
 * model must be the same backbone: ImageNet variant, genotype, channels, layers, input channels;
 * otherwise, or when a tensor is missing or misshapen, a clear error naming `source`. The caller
 * owns the returned tensors (see `replaceParams`).
 */
export function importBackboneParams(
  network: BackboneTarget,
  model: BackboneSource,
  source = 'backbone model',
): ParamMap {
  const mine = network.spec.network;
  const theirs = model.spec;
  const differs = (field: string, got: unknown, want: unknown) =>
    new Error(`${source}: ${field} is ${String(got)}, the backbone has ${String(want)}`);
  if (theirs.variant !== 'imagenet') throw differs('variant', `'${theirs.variant}'`, "'imagenet'");
  for (const field of ['channels', 'layers', 'inChannels'] as const) {
    if (theirs[field] !== mine[field]) throw differs(field, theirs[field], mine[field]);
  }
  if (!genotypesEqual(theirs.genotype, mine.genotype)) {
    throw new Error(`${source}: its genotype differs from the backbone's`);
  }
  const renamed: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(model.weights)) {
    if (/^(classifier|auxiliary_head)\./.test(name) || name.endsWith('.num_batches_tracked')) continue;
    renamed[`${network.backbonePrefix}${name}`] = tensor;
  }
  return importParams(network.backbone.params, renamed, source);
}

/** Puts `values` into `params`, disposing the tensors they replace; `values` is emptied. */
export function replaceParams(params: ParamMap, values: ParamMap): void {
  for (const [name, t] of values) {
    const old = params.get(name);
    if (old !== undefined && old !== t) old.dispose();
    params.set(name, t);
  }
  values.clear();
}
