// Tensors that inference derives from the parameters alone: a 1x1 convolution's weights with its
// batch norm folded in and the norm's shift, a norm's scale γ/√(σ²+ε) (layers.ts). Computing them
// on every forward pass took about six small kernels per norm: some 570 of the 1,280 kernel calls
// of an 8-cell network's forward pass, 5 ms of its 16 ms at batch 1, which a served model pays on
// every request whatever the batch. They are kept with the parameter they are derived from (its
// tensor object), under a key, and checked against the data of every source tensor: a parameter
// that is replaced (a training step) or reassigned (a variable) no longer matches, and its derived
// tensors are recomputed. What was derived from parameters since disposed is freed by the next
// forward pass (`sweepDerived`) and by disposeParams.
import { tf, type Tensor } from '@rnas/engine';

interface Entry {
  readonly sources: readonly Tensor[];
  /** The sources' dataIds when derived: a variable's assign replaces its dataId. */
  readonly dataIds: readonly object[];
  readonly values: readonly Tensor[];
}

const byPrimary = new WeakMap<Tensor, Map<string, Entry>>();
const live = new Set<Entry>();

function current(entry: Entry, sources: readonly Tensor[]): boolean {
  return (
    entry.sources.length === sources.length &&
    sources.every((t, i) => t === entry.sources[i] && !t.isDisposed && t.dataId === entry.dataIds[i]) &&
    entry.values.every((t) => !t.isDisposed)
  );
}

function free(entry: Entry): void {
  for (const t of entry.values) if (!t.isDisposed) t.dispose();
  live.delete(entry);
}

/**
 * The tensors `compute` makes from `sources` (parameters; the first is the one they are kept
 * with), computed once and kept while the sources are unchanged. The caller must not dispose
 * them. `key` names what is derived, including every setting `compute` reads besides the sources.
 */
export function derivedTensors(key: string, sources: readonly Tensor[], compute: () => Tensor[]): Tensor[] {
  const primary = sources[0];
  if (primary === undefined) throw new Error(`derived tensors '${key}': no source tensors`);
  let entries = byPrimary.get(primary);
  if (entries === undefined) {
    entries = new Map();
    byPrimary.set(primary, entries);
  }
  const entry = entries.get(key);
  if (entry !== undefined && current(entry, sources)) return [...entry.values];
  if (entry !== undefined) free(entry);
  const values = tf.tidy(compute);
  for (const t of values) tf.keep(t);
  const made: Entry = { sources: [...sources], dataIds: sources.map((t) => t.dataId), values };
  entries.set(key, made);
  live.add(made);
  return [...values];
}

/** Frees what was derived from parameters that have since been disposed or reassigned. */
export function sweepDerived(): void {
  for (const entry of live) if (!current(entry, entry.sources)) free(entry);
}

/** Tensors held for derived values (for tests and memory accounting). */
export function derivedTensorCount(): number {
  let n = 0;
  for (const entry of live) n += entry.values.length;
  return n;
}

/** True inside tf.grad and its kind, where every op must have a gradient and nothing may be cached. */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
}

/**
 * Live tensors besides those kept for derived values: what a test of "frees its intermediates"
 * compares, since an inference pass may derive (once) tensors that stay with the parameters.
 */
export function tensorsBesidesDerived(): number {
  return tf.memory().numTensors - derivedTensorCount();
}
