export { TASK_NAMES, type TaskName, type TaskModelSpec, type TaskNetwork } from './task';
export {
  resolveDetectionConfig,
  DetectionConfigError,
  SSDLITE_CONFIG,
  REFERENCE_INPUT_SIZE,
  type DetectionConfig,
  type DetectionConfigInput,
} from './detection/config';
export { taskNetwork } from './networks';
export { ClassificationNetwork } from './classification/network';
export type {
  TaskRecipe,
  EpochContext,
  EpochTraining,
  TaskEvaluation,
  TaskTraining,
  TaskPreprocessing,
} from './task';
export { taskTraining, type TaskTrainingOptions } from './training';
export {
  classificationTraining,
  ClassificationDataError,
  evaluateNetwork,
  countCorrect,
  checkAborted,
  nextTick,
  type Evaluation,
  type EvaluateOptions,
} from './classification/training';
export {
  taskFromProto,
  taskToProto,
  detectionConfigFromProto,
  detectionConfigToProto,
  TaskProtoError,
} from './task-proto';
export {
  readDetectionRecord,
  writeDetectionRecord,
  DETECTION_RECORD_SIZE,
  MAX_DETECTIONS,
  type Detection,
} from './detection/record';
export * from './detection/metrics';
