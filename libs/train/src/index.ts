export { FieldError, TrainError, TrainingCancelledError, type TrainErrorCode } from './errors';
export {
  resolveRecipe,
  CIFAR_RECIPE,
  IMAGENET_RECIPE,
  SSDLITE_RECIPE,
  BISENET_RECIPE,
  SIMPLEBASELINE_RECIPE,
  RECIPE_PRESETS,
  TASK_RECIPE_PRESETS,
  LEARNING_RATE_SCHEDULES,
  type Recipe,
  type RecipeInput,
  type RecipePreset,
  type LearningRateSchedule,
} from './recipe';
export { epochSchedule, polyLearningRate, POLY_POWER, type EpochSchedule } from './schedule';
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
  evaluate,
  evaluateNetwork,
  predict,
  topK,
  type Evaluation,
  type EvaluateOptions,
  type Prediction,
} from './evaluate';
