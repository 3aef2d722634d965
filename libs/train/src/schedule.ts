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
 * T_max = epochs, eta_min = learningRateMin) and `drop_path_prob * epoch / epochs`.
 */
export function epochSchedule(recipe: Recipe, epoch: number): EpochSchedule {
  const { epochs, learningRate, learningRateMin } = recipe;
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= epochs) {
    throw invalidArgument('epoch', epoch, `an integer in [0, ${epochs - 1}]`);
  }
  const dropPath = dropPathProbability(epoch, epochs, recipe.dropPath);
  return {
    learningRate:
      recipe.learningRateSchedule === 'cosine'
        ? cosineLearningRate(epoch, epochs, learningRate, learningRateMin)
        : learningRate,
    dropPath,
  };
}
