export { ModelError, describe, type ModelErrorCode } from './errors';
export {
  loadModelArtifact,
  validateArtifact,
  taskSpecOf,
  taskFileJson,
  parseTaskFile,
  TASK_FILE,
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
  type ArtifactTask,
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
export { normalizePixels } from './normalize';
export { readBoundedFile, readJsonFile, writeFileSynced } from './files';
export { syntheticArtifact, SYNTHETIC_KEYPOINTS, type SyntheticModelOptions } from './synthetic';
