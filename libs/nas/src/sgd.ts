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
      if (p.shape.length !== g.shape.length || p.shape.some((d, i) => d !== g.shape[i])) {
        throw new Error(
          `sgd: gradient for '${name}' has shape [${g.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
        );
      }
    }
    const norm = globalNorm([...grads.values()]);
    const clip = this.gradClip === null ? 1 : Math.min(1, this.gradClip / (norm + 1e-6));
    const { lr, momentum, weightDecay } = this;
    for (const [name, g] of grads) {
      const p = params.get(name) as Tensor;
      const previous = this.buffers.get(name);
      const [buffer, updated] = tf.tidy(() => {
        let d = clip === 1 ? g : tf.mul(g, clip);
        if (weightDecay !== 0) d = tf.add(d, tf.mul(p, weightDecay));
        const buf = previous === undefined || momentum === 0 ? d : tf.add(tf.mul(previous, momentum), d);
        // A copy, so the buffer never aliases the caller's gradient tensor.
        return [tf.clone(buf), tf.sub(p, tf.mul(buf, lr))];
      });
      previous?.dispose();
      if (momentum === 0) buffer.dispose();
      else this.buffers.set(name, buffer);
      p.dispose();
      params.set(name, updated);
    }
    return norm;
  }

  /** Frees the momentum buffers (the next step starts fresh). */
  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

/** L2 norm of all the tensors together, accumulated in double precision. */
export function globalNorm(tensors: readonly Tensor[]): number {
  if (tensors.length === 0) return 0;
  const sums = tf.tidy(() => tf.stack(tensors.map((t) => tf.sum(tf.square(t)))).dataSync());
  let total = 0;
  for (const s of sums) total += s;
  return Math.sqrt(total);
}
