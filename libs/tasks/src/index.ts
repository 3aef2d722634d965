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
