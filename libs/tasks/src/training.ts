import type { Dataset, DetectionDataset, KeypointDataset, RngState } from '@rnas/data';
import { classificationTraining } from './classification/training';
import { detectionTraining } from './detection/training';
import { keypointTraining } from './keypoints/training';
import type { TaskModelSpec, TaskRecipe, TaskTraining } from './task';

export interface TaskTrainingOptions {
  readonly spec: TaskModelSpec;
  /**
   * The task's kind of dataset: images with labels for classification, boxes for detection,
   * person keypoints for keypoints.
   */
  readonly dataset: Dataset | DetectionDataset | KeypointDataset;
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
  const kind = isKeypointDataset(dataset)
    ? 'a keypoint'
    : isDetectionDataset(dataset)
      ? 'a detection'
      : 'a classification';
  const refuse = () => new Error(`dataset ${dataset.uri}: ${kind} dataset, the task is ${String(spec.task)}`);
  switch (spec.task) {
    case 'classification':
      if (isDetectionDataset(dataset) || isKeypointDataset(dataset)) throw refuse();
      return classificationTraining({ ...options, dataset });
    case 'detection':
      if (!isDetectionDataset(dataset)) throw refuse();
      return detectionTraining({ ...options, dataset });
    case 'keypoints':
      if (!isKeypointDataset(dataset)) throw refuse();
      return keypointTraining({ ...options, dataset });
    default:
      throw new Error(`task ${String(spec.task)}: expected classification, detection or keypoints`);
  }
}

/** Whether the dataset holds boxes (a VOC or COCO detection dataset) rather than labelled images. */
export function isDetectionDataset(
  dataset: Dataset | DetectionDataset | KeypointDataset,
): dataset is DetectionDataset {
  return Array.isArray(dataset.train) && !isKeypointDataset(dataset);
}

/** Whether the dataset holds person keypoints (format 'coco-keypoints'). */
export function isKeypointDataset(
  dataset: Dataset | DetectionDataset | KeypointDataset,
): dataset is KeypointDataset {
  return 'format' in dataset && dataset.format === 'coco-keypoints';
}
