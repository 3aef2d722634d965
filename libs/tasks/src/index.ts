export { TASK_NAMES, type TaskName, type TaskModelSpec, type TaskNetwork } from './task';
export {
  resolveDetectionConfig,
  DetectionConfigError,
  SSDLITE_CONFIG,
  REFERENCE_INPUT_SIZE,
  type DetectionConfig,
  type DetectionConfigInput,
  DETECTION_AUGMENTATIONS,
  type DetectionAugmentation,
} from './detection/config';
export { taskNetwork } from './networks';
export { ClassificationNetwork, classificationRecord, stableSoftmax } from './classification/network';
export type {
  TaskRecipe,
  EpochContext,
  EpochTraining,
  TaskEvaluation,
  TaskTraining,
  TaskPreprocessing,
} from './task';
export {
  taskTraining,
  datasetTask,
  isDetectionDataset,
  isSegmentationDataset,
  isKeypointDataset,
  type TaskDataset,
  type TaskTrainingOptions,
} from './training';
export { detectionTraining, groundTruths, DETECTION_MEAN, DETECTION_STD } from './detection/training';
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
  segmentationConfigFromProto,
  segmentationConfigToProto,
  keypointConfigFromProto,
  keypointConfigToProto,
  taskProtoName,
  TaskProtoError,
} from './task-proto';
export * from './detection/metrics';
export { DetectionNetwork, BACKBONE_PREFIX, isBackboneParam } from './detection/network';
export {
  checkBackboneSpec,
  importBackboneParams,
  replaceParams,
  type BackboneSource,
  type BackboneTarget,
} from './backbone';
export {
  SsdLiteHead,
  EXTRAS,
  invertedResidual,
  separablePredictor,
  type HeadOutput,
} from './detection/ssdlite';
export {
  priorBoxes,
  priorCount,
  priorsPerLocation,
  REFERENCE_FEATURE_MAPS,
  REFERENCE_SHRINKAGES,
} from './detection/priors';
export {
  CENTER_VARIANCE,
  SIZE_VARIANCE,
  centerToCorner,
  cornerToCenter,
  iou,
  iouMatrix,
  encodeBoxes,
  decodeBoxes,
} from './detection/boxes';
export { matchPriors, type PriorTargets } from './detection/matching';
export { multiboxLoss, mineNegatives, NEG_POS_RATIO, type MultiboxLoss } from './detection/loss';
export { nms } from './detection/nms';
export {
  decodeDetections,
  resolveDecodeOptions,
  DEFAULT_DECODE_OPTIONS,
  type DecodeOptions,
} from './detection/decode';
export {
  MAX_DETECTIONS,
  DETECTION_VALUES,
  DETECTION_RECORD_SIZE,
  writeDetectionRecord,
  readDetectionRecord,
  type Detection,
} from './detection/record';
export { ConfigError } from './config-util';
export {
  resolveSegmentationConfig,
  SegmentationConfigError,
  BISENET_CONFIG,
  IGNORE_LABEL,
  MAX_SEGMENTATION_CLASSES,
  type SegmentationConfig,
  type SegmentationConfigInput,
} from './segmentation/config';
export {
  resolveKeypointConfig,
  withDatasetKeypoints,
  KeypointConfigError,
  SIMPLEBASELINE_CONFIG,
  HEATMAP_STRIDE,
  MAX_KEYPOINTS,
  type KeypointConfig,
  type KeypointConfigInput,
  type KeypointPair,
} from './keypoints/config';
export {
  SegmentationNetwork,
  SEGMENTATION_BACKBONE_PREFIX,
  isBackboneParam as isSegmentationBackboneParam,
  labelMap,
} from './segmentation/network';
export {
  BiSeNetHead,
  ContextPath,
  AttentionRefinement,
  FeatureFusion,
  spatialPath,
  outputHead,
  convBnRelu,
  kaimingConv,
  LEAKY_SLOPE,
  CONTEXT_CHANNELS,
  SPATIAL_CHANNELS,
  FUSION_CHANNELS,
  type BiSeNetOutput,
  type ContextFeatures,
} from './segmentation/bisenet';
export {
  pixelLabels,
  pixelCrossEntropy,
  segmentationLoss,
  type PixelLabels,
  type SegmentationLogits,
} from './segmentation/loss';
export { ConfusionMatrix, type SegmentationMetrics } from './segmentation/metrics';
export {
  KeypointNetwork,
  KEYPOINT_BACKBONE_PREFIX,
  isKeypointBackboneParam,
  flipPermutation,
} from './keypoints/network';
export {
  SimpleBaselineHead,
  Deconv,
  FinalLayer,
  DECONV_CHANNELS,
  DECONV_KERNEL,
  DECONV_LAYERS,
  HEAD_INIT_STD,
} from './keypoints/simplebaseline';
export { decodeHeatmaps, keypointsToImage, KEYPOINT_VALUES, type Affine } from './keypoints/decode';
export {
  segmentationTraining,
  normaliseImageNet,
  SEGMENTATION_MEAN,
  SEGMENTATION_STD,
  type SegmentationTrainingOptions,
} from './segmentation/training';
export { keypointTargets, type KeypointTargets, type TargetOptions } from './keypoints/targets';
export { keypointLoss } from './keypoints/loss';
export {
  keypointEvaluate,
  objectKeypointSimilarity,
  percentCorrectKeypoints,
  type KeypointDetection,
  type KeypointGroundTruth,
  type KeypointEvalOptions,
  type KeypointEvalResult,
} from './keypoints/metrics';
export {
  keypointTraining,
  personGroundTruth,
  personScore,
  KEYPOINT_MEAN,
  KEYPOINT_STD,
  KEYPOINT_SCORE_THRESHOLD,
  PCK_FRACTION,
  type KeypointTrainingOptions,
} from './keypoints/training';
