import type { Dataset, RngState } from '@rnas/data';
import { classificationTraining } from './classification/training';
import type { TaskModelSpec, TaskRecipe, TaskTraining } from './task';

export interface TaskTrainingOptions {
  readonly spec: TaskModelSpec;
  /** The task's kind of dataset: images with labels for classification. */
  readonly dataset: Dataset;
  readonly recipe: TaskRecipe;
  /** The task's random generator state from a checkpoint; absent: a fresh start. */
  readonly randomState?: RngState;
  /** Wraps each step: the trainer turns backend failures into its own errors there. */
  readonly runStep: <T>(epoch: number, batch: number, step: () => T) => T;
  /** Called with each step's loss: throws when it is not finite. */
  readonly checkLoss: (loss: number, epoch: number, batch: number) => void;
}

/** The training of a task's network on its dataset: the trainer's one dispatch on the task. */
export function taskTraining(options: TaskTrainingOptions): TaskTraining {
  switch (options.spec.task) {
    case 'classification':
      return classificationTraining(options);
    default:
      throw new Error(`task ${options.spec.task}: no training yet`);
  }
}
