// The network of a stored model spec, whatever its task.
import { ClassificationNetwork } from './classification/network';
import { DetectionNetwork } from './detection/network';
import { SegmentationNetwork } from './segmentation/network';
import { KeypointNetwork } from './keypoints/network';
import { TASK_NAMES, type TaskModelSpec, type TaskNetwork } from './task';

/** Builds the task's network; an unknown task or a spec the task refuses is a clear error. */
export function taskNetwork(spec: TaskModelSpec): TaskNetwork {
  switch (spec.task) {
    case 'classification':
      return new ClassificationNetwork(spec);
    case 'detection':
      return new DetectionNetwork(spec);
    case 'segmentation':
      return new SegmentationNetwork(spec);
    case 'keypoints':
      return new KeypointNetwork(spec);
    default:
      throw new Error(
        `model spec: task must be one of ${TASK_NAMES.join(', ')}, got ${JSON.stringify(spec.task) ?? String(spec.task)}`,
      );
  }
}
