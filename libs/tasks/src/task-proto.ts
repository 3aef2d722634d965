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

const TASK_PROTOS: Record<TaskName, Task> = {
  classification: Task.TASK_CLASSIFICATION,
  detection: Task.TASK_DETECTION,
  segmentation: Task.TASK_SEGMENTATION,
  keypoints: Task.TASK_KEYPOINTS,
};

export function taskToProto(task: TaskName): Task {
  return TASK_PROTOS[task];
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

/**
 * The resolved config of a request's SegmentationConfig (absent fields and empty lists take
 * BiSeNet's values). A bad field is a SegmentationConfigError naming `field.<name>`.
 */
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

/** Pairs from the proto's flattened list [a0, b0, a1, b1, ...]; an odd length names the field. */
function unflattenPairs(values: readonly number[], field: string): KeypointPair[] {
  if (values.length % 2 !== 0) {
    throw new TaskProtoError(
      field,
      `${values.length} values`,
      'expected pairs of keypoint indices (an even count)',
    );
  }
  const pairs: KeypointPair[] = [];
  for (let i = 0; i < values.length; i += 2) pairs.push([values[i], values[i + 1]]);
  return pairs;
}

/**
 * The resolved config of a KeypointConfig message (absent fields and empty lists take
 * SimpleBaseline's values). Skeleton and flip pairs arrive flattened; an odd count is a
 * TaskProtoError, a bad field a KeypointConfigError, each naming `field.<name>`.
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
      skeleton: unflattenPairs(skeleton, `${field}.skeleton`),
      flipPairs: unflattenPairs(flipPairs, `${field}.flipPairs`),
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
