// The SGD momentum buffers, which a checkpoint must carry for a resumed training to continue
// exactly. `Sgd` (libs/nas) keeps them in a private map and has no API to read or restore them
// yet; this is the one place that reaches in, and it fails loudly if that field ever changes.
import type { Tensor } from '@rnas/engine';
import type { Sgd } from '@rnas/nas';

/** The live buffer map of `sgd`, keyed by parameter name (tfjs layouts); the optimiser owns it. */
export function momentumBuffers(sgd: Sgd): Map<string, Tensor> {
  const buffers = (sgd as unknown as { buffers?: unknown }).buffers;
  if (!(buffers instanceof Map)) {
    throw new Error(
      'Sgd no longer keeps its momentum buffers in `buffers`: update libs/train/src/optimizer-state.ts',
    );
  }
  return buffers as Map<string, Tensor>;
}

/** Hands `buffers` to `sgd` (which then owns and disposes them), replacing any it had. */
export function restoreMomentumBuffers(sgd: Sgd, buffers: ReadonlyMap<string, Tensor>): void {
  const live = momentumBuffers(sgd);
  for (const t of live.values()) t.dispose();
  live.clear();
  for (const [name, t] of buffers) live.set(name, t);
}
