import type { Dataset, DetectionDataset, RngState, SegmentationDataset } from '@rnas/data';
import { classificationTraining } from './classification/training';
import { detectionTraining } from './detection/training';
import { segmentationTraining } from './segmentation/training';
import type { TaskModelSpec, TaskRecipe, TaskTraining } from './task';

/** Every task's kind of dataset. */
export type TaskDataset = Dataset | DetectionDataset | SegmentationDataset;

export interface TaskTrainingOptions {
  readonly spec: TaskModelSpec;
  /**
   * The task's kind of dataset: images with labels for classification, boxes for detection,
   * label maps for segmentation.
   */
  readonly dataset: TaskDataset;
  readonly recipe: TaskRecipe;
  /** The task's random generator state from a checkpoint; absent: a fresh start. */
  readonly randomState?: RngState;
  /** Wraps each step: the trainer turns backend failures into its own errors there. */
  readonly runStep: <T>(epoch: number, batch: number, step: () => T) => T;
  /** Called with each step's loss: throws when it is not finite. */
  readonly checkLoss: (loss: number, epoch: number, batch: number) => void;
}

/** What a dataset holds, in words, for the errors of a mismatch with the task. */
function datasetKind(dataset: TaskDataset): string {
  if (isSegmentationDataset(dataset)) return 'a segmentation dataset';
  if (isDetectionDataset(dataset)) return 'a detection dataset';
  return 'a classification dataset';
}

/** The training of a task's network on its dataset: the trainer's one dispatch on the task. */
export function taskTraining(options: TaskTrainingOptions): TaskTraining {
  const { spec, dataset } = options;
  const mismatch = () =>
    new Error(`dataset ${dataset.uri}: ${datasetKind(dataset)}, the task is ${spec.task}`);
  switch (spec.task) {
    case 'classification':
      if (isDetectionDataset(dataset) || isSegmentationDataset(dataset)) throw mismatch();
      return classificationTraining({ ...options, dataset });
    case 'detection':
      if (!isDetectionDataset(dataset)) throw mismatch();
      return detectionTraining({ ...options, dataset });
    case 'segmentation':
      if (!isSegmentationDataset(dataset)) throw mismatch();
      return segmentationTraining({ ...options, dataset });
    default:
      throw new Error(`task ${String(spec.task)}: expected classification, detection or segmentation`);
  }
}

/** Whether the dataset holds boxes (a VOC or COCO dataset) rather than labelled images or label maps. */
export function isDetectionDataset(dataset: TaskDataset): dataset is DetectionDataset {
  return Array.isArray(dataset.train) && !isSegmentationDataset(dataset);
}

/** Whether the dataset holds label maps (VOC segmentation or Cityscapes). */
export function isSegmentationDataset(dataset: TaskDataset): dataset is SegmentationDataset {
  const format = (dataset as { format?: unknown }).format;
  return format === 'voc-seg' || format === 'cityscapes';
}
