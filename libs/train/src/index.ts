export { FieldError, TrainError, TrainingCancelledError, type TrainErrorCode } from './errors';
export {
  resolveRecipe,
  CIFAR_RECIPE,
  IMAGENET_RECIPE,
  RECIPE_PRESETS,
  LEARNING_RATE_SCHEDULES,
  type Recipe,
  type RecipeInput,
  type RecipePreset,
  type LearningRateSchedule,
} from './recipe';
export { epochSchedule, type EpochSchedule } from './schedule';
export { withoutTiming, type EpochReport } from './epoch-report';
export {
  readTrainingCheckpoint,
  writeTrainingCheckpoint,
  checkpointPath,
  CHECKPOINT_FILE,
  CHECKPOINT_FORMAT,
  type TrainingCheckpoint,
} from './checkpoint';
export { train, artifactFromTraining, type TrainOptions, type TrainResult, type TrainSpec } from './trainer';
export {
  loadModelArtifact,
  validateArtifact,
  writeArtifactFiles,
  parsePreprocessing,
  parseLabels,
  specFileJson,
  ARTIFACT_FILES,
  SPEC_FILE,
  WEIGHTS_FILE,
  LABELS_FILE,
  PREPROCESSING_FILE,
  type ModelArtifact,
  type Preprocessing,
  type LoadArtifactOptions,
} from './artifact';
export {
  publishModel,
  listModels,
  modelVersionDir,
  loadPublishedModel,
  validateModelName,
  validateVersion,
  type PublishedModel,
  type PublishOptions,
  type ModelEntry,
} from './repository';
export { loadModel, type Model } from './model';
export {
  evaluate,
  evaluateNetwork,
  predict,
  topK,
  normalizePixels,
  type Evaluation,
  type EvaluateOptions,
  type Prediction,
} from './evaluate';
