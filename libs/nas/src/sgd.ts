import { tf, type Tensor } from '@rnas/engine';

export interface SgdOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Global L2 norm the gradients are clipped to; null: no clipping. */
  gradClip: number | null;
}

function checkOption(name: string, value: number, min: number, max = Infinity): void {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw new Error(`sgd: ${name} must be a finite number in [${min}, ${max}], got ${value}`);
  }
}

/**
 * SGD as the reference trains with it (PyTorch semantics): clip the gradients to a global norm
 * (coefficient max/(norm+1e-6), never above 1), add weight decay to the clipped gradient, then
 * momentum whose buffer starts as the first gradient; no dampening, no Nesterov.
 */
export class Sgd {
  private readonly buffers = new Map<string, Tensor>();
  private lrValue: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly gradClip: number | null;

  constructor(options: SgdOptions) {
    checkOption('lr', options.lr, 0);
    checkOption('momentum', options.momentum, 0, 1);
    checkOption('weightDecay', options.weightDecay, 0);
    if (options.gradClip !== null) checkOption('gradClip', options.gradClip, Number.MIN_VALUE);
    this.lrValue = options.lr;
    this.momentum = options.momentum;
    this.weightDecay = options.weightDecay;
    this.gradClip = options.gradClip;
  }

  /**
   * The momentum buffers by parameter name (absent before a parameter's first step), for a
   * checkpoint. The optimiser owns them: read them, do not dispose or keep them past the next step.
   */
  momentumBuffers(): ReadonlyMap<string, Tensor> {
    return this.buffers;
  }

  /**
   * Replaces the momentum buffers with `buffers` (a restored checkpoint), which the optimiser then
   * owns and disposes. With `params`, every buffer must belong to a parameter and have its shape.
   * Nothing changes on a validation error, and the caller keeps `buffers`.
   */
  loadMomentumBuffers(buffers: Map<string, Tensor>, params?: ReadonlyMap<string, Tensor>): void {
    if (!(buffers instanceof Map)) {
      throw new Error(`sgd: momentum buffers must be a Map of name to tensor, got ${describe(buffers)}`);
    }
    for (const [name, t] of buffers) {
      if (typeof name !== 'string' || name.length === 0) {
        throw new Error(`sgd: momentum buffer name must be a non-empty string, got ${JSON.stringify(name)}`);
      }
      if (!(t instanceof tf.Tensor) || t.isDisposed) {
        throw new Error(`sgd: momentum buffer '${name}' must be a live tensor, got ${describe(t)}`);
      }
      if (t.dtype !== 'float32') {
        throw new Error(`sgd: momentum buffer '${name}' must be float32, got ${t.dtype}`);
      }
      if (params === undefined) continue;
      const p = params.get(name);
      if (p === undefined) throw new Error(`sgd: momentum buffer for unknown parameter '${name}'`);
      if (!sameShape(p.shape, t.shape)) {
        throw new Error(
          `sgd: momentum buffer '${name}' has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
        );
      }
    }
    for (const [name, old] of this.buffers) if (buffers.get(name) !== old) old.dispose();
    this.buffers.clear();
    for (const [name, t] of buffers) this.buffers.set(name, t);
  }

  /** The learning rate; schedules set it between steps. */
  get lr(): number {
    return this.lrValue;
  }
  set lr(value: number) {
    checkOption('lr', value, 0);
    this.lrValue = value;
  }

  /**
   * Updates `params` in place (each updated entry is replaced by a new tensor and the old one
   * disposed) from `grads`; parameters without a gradient are left alone, as PyTorch does.
   * Returns the global gradient norm before clipping. The caller still owns `grads`.
   */
  step(params: Map<string, Tensor>, grads: ReadonlyMap<string, Tensor>): number {
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (p === undefined) throw new Error(`sgd: gradient for unknown parameter '${name}'`);
      if (!sameShape(p.shape, g.shape)) {
        throw new Error(
          `sgd: gradient for '${name}' has shape [${g.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
        );
      }
      // A loaded buffer of another shape would broadcast silently.
      const buffer = this.buffers.get(name);
      if (buffer !== undefined && !sameShape(buffer.shape, g.shape)) {
        throw new Error(
          `sgd: momentum buffer '${name}' has shape [${buffer.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
        );
      }
    }
    if (grads.size === 0) return 0;
    const names = [...grads.keys()];
    const gradList = names.map((name) => grads.get(name) as Tensor);
    const norm = globalNorm(gradList);
    const clip = this.gradClip === null ? 1 : Math.min(1, this.gradClip / (norm + 1e-6));
    const { lr, momentum, weightDecay } = this;
    // Every parameter at once, as one vector: the same elementwise arithmetic as parameter by
    // parameter (a missing buffer is zeros: 0·momentum + d is d), in a few kernels instead of a
    // handful per parameter. The split results are new tensors: no buffer aliases a gradient.
    const keep = momentum !== 0;
    const [updated, buffer] = tf.tidy(() => {
      const g = flatten(gradList);
      const p = flatten(names.map((name) => params.get(name) as Tensor));
      let d = clip === 1 ? g : tf.mul(g, clip);
      if (weightDecay !== 0) d = tf.add(d, tf.mul(p, weightDecay));
      let buf = d;
      if (keep && names.some((name) => this.buffers.has(name))) {
        const previous = names.map((name, i) => this.buffers.get(name) ?? tf.zerosLike(gradList[i]));
        buf = tf.add(tf.mul(flatten(previous), momentum), d);
      }
      return [tf.sub(p, tf.mul(buf, lr)), buf];
    });
    const shapes = gradList.map((t) => t.shape);
    const newParams = unflatten(updated, shapes);
    names.forEach((name, i) => {
      params.get(name)?.dispose();
      params.set(name, newParams[i]);
    });
    if (keep) {
      const newBuffers = unflatten(buffer, shapes);
      names.forEach((name, i) => {
        this.buffers.get(name)?.dispose();
        this.buffers.set(name, newBuffers[i]);
      });
    }
    tf.dispose([updated, buffer]);
    return norm;
  }

  /** Frees the momentum buffers (the next step starts fresh). */
  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function describe(value: unknown): string {
  if (value instanceof tf.Tensor) {
    return `${value.isDisposed ? 'a disposed' : 'a'} tensor of shape [${value.shape.join(', ')}]`;
  }
  return value === null ? 'null' : typeof value;
}

/** The tensors' values one after another, as one vector. */
function flatten(tensors: readonly Tensor[]): Tensor {
  return tensors.length === 1
    ? tf.reshape(tensors[0], [-1])
    : tf.concat(tensors.map((t) => tf.reshape(t, [-1])));
}

/** `flatten` undone: the vector cut into tensors of `shapes`. */
function unflatten(vector: Tensor, shapes: readonly number[][]): Tensor[] {
  return tf.tidy(() => {
    const sizes = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
    const parts = sizes.length === 1 ? [tf.clone(vector)] : tf.split(vector, sizes);
    return parts.map((t, i) => tf.reshape(t, shapes[i]));
  });
}

/** Values summed in float32 per slice of this many, the slices in double precision. */
const NORM_SLICE = 1024;

/** L2 norm of all the tensors together: squares summed in slices of NORM_SLICE, then in double. */
export function globalNorm(tensors: readonly Tensor[]): number {
  if (tensors.length === 0) return 0;
  const sums = tf.tidy(() => {
    const squares = tf.square(flatten(tensors));
    const rows = Math.ceil(squares.size / NORM_SLICE);
    const padded = tf.pad(squares, [[0, rows * NORM_SLICE - squares.size]]);
    return tf.sum(tf.reshape(padded, [rows, NORM_SLICE]), 1).dataSync();
  });
  let total = 0;
  for (const s of sums) total += s;
  return Math.sqrt(total);
}
