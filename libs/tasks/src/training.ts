import type { Dataset, DetectionDataset, KeypointDataset, RngState, SegmentationDataset } from '@rnas/data';
import { classificationTraining } from './classification/training';
import { detectionTraining } from './detection/training';
import { keypointTraining } from './keypoints/training';
import { segmentationTraining } from './segmentation/training';
import type { TaskModelSpec, TaskName, TaskRecipe, TaskTraining } from './task';

/** Every task's kind of dataset. */
export type TaskDataset = Dataset | DetectionDataset | SegmentationDataset | KeypointDataset;

export interface TaskTrainingOptions {
  readonly spec: TaskModelSpec;
  /**
   * The task's kind of dataset: images with labels for classification, boxes for detection,
   * label maps for segmentation, person keypoints for keypoints.
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

/** The task a dataset is for, from its format (a classification dataset has none of these). */
export function datasetTask(dataset: TaskDataset): TaskName {
  switch ((dataset as { format?: unknown }).format) {
    case 'voc':
    case 'coco':
      return 'detection';
    case 'voc-seg':
    case 'cityscapes':
      return 'segmentation';
    case 'coco-keypoints':
      return 'keypoints';
    default:
      return 'classification';
  }
}

/** The training of a task's network on its dataset: the trainer's one dispatch on the task. */
export function taskTraining(options: TaskTrainingOptions): TaskTraining {
  const { spec, dataset } = options;
  const kind = datasetTask(dataset);
  if (kind !== spec.task) {
    throw new Error(`dataset ${dataset.uri}: a ${kind} dataset, the task is ${String(spec.task)}`);
  }
  switch (spec.task) {
    case 'classification':
      return classificationTraining({ ...options, dataset: dataset as Dataset });
    case 'detection':
      return detectionTraining({ ...options, dataset: dataset as DetectionDataset });
    case 'segmentation':
      return segmentationTraining({ ...options, dataset: dataset as SegmentationDataset });
    case 'keypoints':
      return keypointTraining({ ...options, dataset: dataset as KeypointDataset });
    default:
      throw new Error(
        `task ${String(spec.task)}: expected classification, detection, segmentation or keypoints`,
      );
  }
}

/** Whether the dataset holds boxes (a VOC or COCO detection dataset). */
export function isDetectionDataset(dataset: TaskDataset): dataset is DetectionDataset {
  return datasetTask(dataset) === 'detection';
}

/** Whether the dataset holds label maps (VOC segmentation or Cityscapes). */
export function isSegmentationDataset(dataset: TaskDataset): dataset is SegmentationDataset {
  return datasetTask(dataset) === 'segmentation';
}

/** Whether the dataset holds person keypoints (COCO person keypoints). */
export function isKeypointDataset(dataset: TaskDataset): dataset is KeypointDataset {
  return datasetTask(dataset) === 'keypoints';
}
