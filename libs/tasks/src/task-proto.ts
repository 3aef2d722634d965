// The protobuf face of tasks (task.proto), shared by the training and inference services.
import {
  DetectionAugmentation,
  Task,
  type DetectionConfig as DetectionConfigProto,
  type KeypointConfig as KeypointConfigProto,
  type SegmentationConfig as SegmentationConfigProto,
} from '@rnas/proto';
import { resolveDetectionConfig, type DetectionConfig } from './detection/config';
import { resolveKeypointConfig, type KeypointConfig, type KeypointPair } from './keypoints/config';
import { resolveSegmentationConfig, type SegmentationConfig } from './segmentation/config';
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
    case Task.TASK_SEGMENTATION:
      return 'segmentation';
    case Task.TASK_KEYPOINTS:
      return 'keypoints';
    default:
      throw new TaskProtoError(
        field,
        value,
        'expected TASK_CLASSIFICATION, TASK_DETECTION, TASK_SEGMENTATION or TASK_KEYPOINTS',
      );
  }
}

const TASK_PROTO: Record<TaskName, Task> = {
  classification: Task.TASK_CLASSIFICATION,
  detection: Task.TASK_DETECTION,
  segmentation: Task.TASK_SEGMENTATION,
  keypoints: Task.TASK_KEYPOINTS,
};

export function taskToProto(task: TaskName): Task {
  return TASK_PROTO[task];
}

/** The protobuf enum name of a task, for messages (`TASK_DETECTION`). */
export function taskProtoName(task: TaskName): string {
  return Task[TASK_PROTO[task]];
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

/** The resolved config of a request's SegmentationConfig (absent fields and empty lists: defaults). */
export function segmentationConfigFromProto(
  proto: SegmentationConfigProto | undefined,
  field = 'segmentation',
): SegmentationConfig {
  return resolveSegmentationConfig({ ...(proto ?? {}) }, field);
}

export function segmentationConfigToProto(config: SegmentationConfig): SegmentationConfigProto {
  return {
    inputHeight: config.inputHeight,
    inputWidth: config.inputWidth,
    scales: [...config.scales],
    backboneModel: config.backboneModel,
    headLrScale: config.headLrScale,
    auxiliaryWeight: config.auxiliaryWeight,
  };
}

/** Flattened pairs [a0, b0, a1, b1, ...] as pairs; an odd count is an error naming the field. */
function pairsFromProto(values: readonly number[], field: string): KeypointPair[] {
  if (values.length % 2 !== 0) {
    throw new TaskProtoError(field, values.length, 'expected an even count (pairs of keypoint indices)');
  }
  return Array.from({ length: values.length / 2 }, (_, i) => [values[2 * i], values[2 * i + 1]] as const);
}

/**
 * The resolved config of a KeypointConfig: absent fields take the defaults. The dataset's fields
 * (names, skeleton, flip pairs, sigmas) are read too, as a stored model's message carries them; a
 * training request's are replaced by its dataset's.
 */
export function keypointConfigFromProto(
  proto: KeypointConfigProto | undefined,
  field = 'keypoints',
): KeypointConfig {
  if (proto === undefined) return resolveKeypointConfig({}, field);
  const { skeleton, flipPairs, ...rest } = proto;
  return resolveKeypointConfig(
    {
      ...rest,
      skeleton: pairsFromProto(skeleton, `${field}.skeleton`),
      flipPairs: pairsFromProto(flipPairs, `${field}.flip_pairs`),
    },
    field,
  );
}

export function keypointConfigToProto(config: KeypointConfig): KeypointConfigProto {
  return {
    inputHeight: config.inputHeight,
    inputWidth: config.inputWidth,
    heatmapSigma: config.heatmapSigma,
    flipTest: config.flipTest,
    scaleFactor: config.scaleFactor,
    rotationFactor: config.rotationFactor,
    backboneModel: config.backboneModel,
    keypointNames: [...config.keypointNames],
    skeleton: config.skeleton.flat(),
    flipPairs: config.flipPairs.flat(),
    oksSigmas: [...config.oksSigmas],
  };
}
