// Per-epoch schedules of the evaluation recipe. Epochs count from 0 here; reports count from 1.
import { cosineLearningRate, dropPathProbability } from '@rnas/nas';
import { invalidArgument } from './errors';
import type { Recipe } from './recipe';

export interface EpochSchedule {
  readonly learningRate: number;
  readonly dropPath: number;
}

/**
 * The learning rate and drop-path probability of `epoch`, as the reference train.py sets them at
 * the start of an epoch: cosine annealing stepped once per epoch (CosineAnnealingLR with
 * T_max = epochs, eta_min = learningRateMin), BiSeNet's poly decay, or constant; and
 * `drop_path_prob * epoch / epochs`.
 */
export function epochSchedule(recipe: Recipe, epoch: number): EpochSchedule {
  const { epochs, learningRate, learningRateMin } = recipe;
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= epochs) {
    throw invalidArgument('epoch', epoch, `an integer in [0, ${epochs - 1}]`);
  }
  const dropPath = dropPathProbability(epoch, epochs, recipe.dropPath);
  switch (recipe.learningRateSchedule) {
    case 'cosine':
      return { learningRate: cosineLearningRate(epoch, epochs, learningRate, learningRateMin), dropPath };
    case 'poly':
      return { learningRate: polyLearningRate(epoch, epochs, learningRate), dropPath };
    default:
      return { learningRate, dropPath };
  }
}

/** BiSeNet's poly schedule stepped per epoch: lr * (1 - epoch / epochs)^0.9. */
export function polyLearningRate(epoch: number, epochs: number, learningRate: number): number {
  return learningRate * (1 - epoch / epochs) ** POLY_POWER;
}

/** The poly schedule's power (`B/opt_utils/optimizer.py`). */
export const POLY_POWER = 0.9;
