import type { Dataset, DetectionDataset, RngState } from '@rnas/data';
import { classificationTraining } from './classification/training';
import { detectionTraining } from './detection/training';
import type { TaskModelSpec, TaskRecipe, TaskTraining } from './task';

export interface TaskTrainingOptions {
  readonly spec: TaskModelSpec;
  /** The task's kind of dataset: images with labels for classification, boxes for detection. */
  readonly dataset: Dataset | DetectionDataset;
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
  const { spec, dataset } = options;
  const boxes = isDetectionDataset(dataset);
  switch (spec.task) {
    case 'classification':
      if (boxes) throw new Error(`dataset ${dataset.uri}: a detection dataset, the task is classification`);
      return classificationTraining({ ...options, dataset });
    case 'detection':
      if (!boxes) throw new Error(`dataset ${dataset.uri}: a classification dataset, the task is detection`);
      return detectionTraining({ ...options, dataset });
    default:
      throw new Error(`task ${String(spec.task)}: expected classification or detection`);
  }
}

/** Whether the dataset holds boxes (a VOC or COCO dataset) rather than labelled images. */
export function isDetectionDataset(dataset: Dataset | DetectionDataset): dataset is DetectionDataset {
  return Array.isArray(dataset.train);
}
