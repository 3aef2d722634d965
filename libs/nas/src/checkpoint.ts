import { gradients, tf, type Tensor, type Tensor4D } from '@rnas/engine';
import type { ForwardContext, Module } from './layers';

/**
 * Runs `module` as one node of the gradient tape that keeps only its input, and recomputes the
 * module's forward pass during backpropagation to get its gradients (gradient checkpointing).
 *
 * Without this a training step holds every intermediate of every op until the backward pass
 * reaches it, and the wasm heap (4 GiB at most) limits the batch. The price is one more forward
 * pass of the module, so training steps only recompute when the batch needs it
 * (`TrainStepOptions.recompute`). Batch-norm statistics are recorded once, in the first pass; the
 * recomputation sees the same batch and so computes the same values.
 */
export function checkpointed(module: Module, x: Tensor4D, ctx: ForwardContext): Tensor4D {
  const weights = module.params.filter((p) => p.kind === 'weight').map((p) => ctx.param(p.name));
  const quiet: ForwardContext = { ...ctx, recordBatchStats: () => undefined };
  const op = tf.customGrad((...args) => {
    const [input, save] = [args[0] as Tensor4D, args[args.length - 1] as (saved: Tensor[]) => void];
    save([input]);
    return {
      value: module.apply(input, ctx),
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        recompute(() => module.apply(saved[0] as Tensor4D, quiet), [saved[0], ...weights], dy),
    };
  });
  return op(x, ...weights) as Tensor4D;
}

/**
 * Gradients of `f` with respect to `xs` for the upstream gradient `dy`, computed while an outer
 * backward pass is running (the engine's `gradients` puts the outer pass's tape back afterwards).
 */
function recompute(f: () => Tensor, xs: Tensor[], dy: Tensor): Tensor[] {
  return tf.tidy(() => {
    const { value, grads } = gradients(f, xs, dy);
    value.dispose();
    // A weight the module does not reach (none today) still needs a gradient of its shape.
    return grads.map((g, i) => g ?? tf.zerosLike(xs[i]));
  });
}
