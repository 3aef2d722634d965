// When a loss means the training diverged: the one rule of the training (libs/train's trainer
// fails a training with it) and of the search's comparisons (a diverged candidate loses, and a
// generation in which every candidate diverged fails the search), so that the same network and
// learning rate never fail one and pass the other.

/**
 * A loss above this is a diverged training. The losses of the tasks (cross-entropy, detection,
 * segmentation, keypoint heatmaps) are of order 1-10 at initialization; 1e6 is far beyond any
 * training that still learns, and far below the 1e24 a learning rate of 10 reaches.
 */
export const DIVERGED_LOSS = 1e6;

/** Whether `loss` is NaN, infinite or above DIVERGED_LOSS. */
export function lossDiverged(loss: number): boolean {
  return !Number.isFinite(loss) || loss > DIVERGED_LOSS;
}

/** Whether a candidate's training or validation loss diverged. */
export function candidateDiverged(r: { trainLoss: number; valLoss: number }): boolean {
  return lossDiverged(r.trainLoss) || lossDiverged(r.valLoss);
}

/** Every candidate of a generation diverged: the search cannot go on (FAILED_PRECONDITION). */
export class SearchDivergedError extends Error {
  override name = 'SearchDivergedError';
  /** The gRPC status name the job reports. */
  readonly code = 'FAILED_PRECONDITION';

  constructor(
    readonly generation: number,
    readonly learningRate: number,
    readonly loss: number,
  ) {
    super(
      `search diverged: every candidate of generation ${generation} diverged at learning_rate=${learningRate} ` +
        `(lowest training loss ${loss}, the limit is ${DIVERGED_LOSS}); lower lr_max`,
    );
  }
}
