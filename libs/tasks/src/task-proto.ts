// The protobuf face of tasks (task.proto), shared by the training and inference services.
import { DetectionAugmentation, Task, type DetectionConfig as DetectionConfigProto } from '@rnas/proto';
import { resolveDetectionConfig, type DetectionConfig } from './detection/config';
import type { TaskName } from './task';

/** A task field that is not a known task. */
export class TaskProtoError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}, got ${String(value)}`);
    this.name = 'TaskProtoError';
  }
}

/** UNSPECIFIED is classification, what every client meant before tasks existed. */
export function taskFromProto(value: Task, field = 'task'): TaskName {
  switch (value) {
    case Task.TASK_UNSPECIFIED:
    case Task.TASK_CLASSIFICATION:
      return 'classification';
    case Task.TASK_DETECTION:
      return 'detection';
    default:
      throw new TaskProtoError(field, value, 'expected TASK_CLASSIFICATION or TASK_DETECTION');
  }
}

export function taskToProto(task: TaskName): Task {
  return task === 'detection' ? Task.TASK_DETECTION : Task.TASK_CLASSIFICATION;
}

/**
 * The resolved config of a request's DetectionConfig (absent fields and empty lists take the
 * defaults). A bad field is a DetectionConfigError (a field issue: path, expected, got).
 */
export function detectionConfigFromProto(
  proto: DetectionConfigProto | undefined,
  field = 'detection',
): DetectionConfig {
  const { augmentation, ...rest } = proto ?? {
    augmentation: DetectionAugmentation.DETECTION_AUGMENTATION_UNSPECIFIED,
  };
  let name: DetectionConfig['augmentation'] | undefined;
  switch (augmentation) {
    case DetectionAugmentation.DETECTION_AUGMENTATION_UNSPECIFIED:
      name = undefined;
      break;
    case DetectionAugmentation.DETECTION_AUGMENTATION_SSD:
      name = 'ssd';
      break;
    case DetectionAugmentation.DETECTION_AUGMENTATION_MIRROR:
      name = 'mirror';
      break;
    default:
      throw new TaskProtoError(
        `${field}.augmentation`,
        augmentation,
        'expected DETECTION_AUGMENTATION_SSD or DETECTION_AUGMENTATION_MIRROR',
      );
  }
  return resolveDetectionConfig({ ...rest, augmentation: name }, field);
}

export function detectionConfigToProto(config: DetectionConfig): DetectionConfigProto {
  return {
    inputSize: config.inputSize,
    boxSizes: [...config.boxSizes],
    aspectRatios: [...config.aspectRatios],
    matchIou: config.matchIou,
    backboneModel: config.backboneModel,
    freezeBackboneEpochs: config.freezeBackboneEpochs,
    backboneLrScale: config.backboneLrScale,
    augmentation:
      config.augmentation === 'mirror'
        ? DetectionAugmentation.DETECTION_AUGMENTATION_MIRROR
        : DetectionAugmentation.DETECTION_AUGMENTATION_SSD,
  };
}
