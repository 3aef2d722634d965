// Reverse-mode gradients that free memory as the backward pass goes. tfjs's own
// `engine.gradients` runs the whole backward pass in one scope: every intermediate gradient and
// every tensor the tape saved for it live until the pass ends, so a training step peaks at about
// twice its saved activations. This walks the same tape with the same gradient functions, in the
// same order (so results are identical), but disposes a node's saved tensors and its outputs'
// gradients as soon as the node has been differentiated.
import type { NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';
import { tf } from './tf';

/** A node of the engine's gradient tape (tfjs-core's TapeNode, which it does not export). */
interface TapeNode {
  id: number;
  kernelName: string;
  outputs: Tensor[];
  inputs: NamedTensorMap;
  gradient?: (dys: Tensor[]) => Record<string, () => Tensor>;
  saved?: Tensor[];
}

/** The engine members this needs; `startTape`, `endTape` and `scopedRun` are private in its typings. */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends Tensor>(name: string, f: () => T): T;
}

export interface GradientsResult {
  readonly value: Tensor;
  /** Gradient of `value` for each of `xs`, undefined where `value` does not depend on it. */
  readonly grads: (Tensor | undefined)[];
}

/**
 * Value of `f()` and its gradients with respect to `xs` (weighted by `dy`, ones by default), like
 * `tf.engine().gradients(f, xs, dy, true)`: the caller owns and disposes the value and the
 * gradients. Nested calls (inside a custom gradient) leave the outer pass's tape as they found it.
 */
export function gradients(f: () => Tensor, xs: readonly Tensor[], dy?: Tensor): GradientsResult {
  if (xs.length === 0) throw new Error('gradients: xs is empty');
  if (dy !== undefined && dy.dtype !== 'float32') {
    throw new Error(`gradients: dy must be float32, got ${dy.dtype}`);
  }
  const engine = tf.engine() as unknown as EngineInternals;
  const outerTape = engine.state.activeTape;
  try {
    const value = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
    if (!(value instanceof tf.Tensor)) throw new Error('gradients: f must return a tensor');
    const tape = engine.state.activeTape ?? [];
    const topLevel = engine.state.gradientDepth === 0;
    try {
      const grads = engine.tidy('backward', () => {
        const found = backprop(reachable(tape, xs, value), value, dy ?? tf.onesLike(value), topLevel);
        // tidy keeps what the function returns: the gradients, as one list.
        return xs.map((x) => found.get(x.id)) as unknown as Tensor;
      }) as unknown as (Tensor | undefined)[];
      return { value, grads };
    } catch (err) {
      value.dispose();
      throw err;
    } finally {
      // The tape's saved tensors, on success and on error alike (an enclosing tape keeps its own).
      if (topLevel) for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    }
  } finally {
    engine.state.activeTape = outerTape;
  }
}

/** Nodes on a path from `xs` to `y`, in tape order, with inputs pruned to those that lead from `xs`. */
function reachable(tape: readonly TapeNode[], xs: readonly Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  return tape
    .filter((node) => nodesFromX.has(node.id) && nodesToY.has(node.id))
    .map((node) => ({
      ...node,
      inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, t]) => fromX.has(t.id))),
    }));
}

/**
 * Walks `nodes` backwards from `y`'s gradient `seed`; returns the accumulated gradient of every
 * tensor still wanted (the inputs of the first nodes: among them the xs). `release` decides what
 * may go: a gradient tensor can sit under several tensor ids (a gradient function may hand the
 * same tensor to two inputs, or pass its dy through), so it is disposed once no id holds it.
 */
function backprop(
  nodes: readonly TapeNode[],
  y: Tensor,
  seed: Tensor,
  freeSaved: boolean,
): Map<number, Tensor> {
  const grads = new Map<number, Tensor>([[y.id, seed]]);
  const holders = new Map<Tensor, number>([[seed, 1]]);
  const hold = (t: Tensor) => holders.set(t, (holders.get(t) ?? 0) + 1);
  const release = (t: Tensor) => {
    const left = (holders.get(t) ?? 1) - 1;
    if (left > 0) {
      holders.set(t, left);
      return;
    }
    holders.delete(t);
    // The caller's dy is the caller's.
    if (t !== seed) t.dispose();
  };
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (node.gradient === undefined) {
      throw new Error(`gradients: no gradient function for ${node.kernelName}`);
    }
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null) as Tensor[];
    const inputGrads = node.gradient(dys);
    for (const [name, x] of Object.entries(node.inputs)) {
      const gradFn = inputGrads[name];
      if (gradFn === undefined)
        throw new Error(`gradients: ${node.kernelName} has no gradient for input ${name}`);
      const dx = tf.tidy(gradFn);
      if (dx.dtype !== 'float32') {
        throw new Error(
          `gradients: the gradient of ${node.kernelName} for ${name} is ${dx.dtype}, not float32`,
        );
      }
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(
          `gradients: the gradient of ${node.kernelName} for ${name} has shape [${dx.shape}], ` +
            `its input [${x.shape}]`,
        );
      }
      const current = grads.get(x.id);
      if (current === undefined) {
        grads.set(x.id, dx);
        hold(dx);
      } else {
        const sum = tf.add(current, dx);
        grads.set(x.id, sum);
        hold(sum);
        release(current);
        if (!holders.has(dx)) dx.dispose();
      }
    }
    // Every gradient function of this node has run: its outputs' gradients and saved tensors are spent.
    for (const o of node.outputs) {
      const g = grads.get(o.id);
      if (g === undefined) continue;
      grads.delete(o.id);
      release(g);
    }
    if (freeSaved) for (const t of node.saved ?? []) t.dispose();
  }
  return grads;
}
