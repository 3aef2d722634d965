export {
  startTrainingService,
  defaultTrainingWorkerScript,
  TRAINING_DATABASE,
  type TrainingServiceOptions,
  type RunningService,
} from './service';
export { serveTraining } from './main';
export {
  loadTrainingServiceConfig,
  trainingServiceHelp,
  TRAINING_OPTIONS,
  TRAINING_PORTS,
  type TrainingServiceConfig,
} from './config';
export {
  resolveStartTraining,
  type ResolvedTraining,
  type RequestedSpec,
  type TrainingLimits,
} from './training-request';
export { searchGenotype, SEARCH_DATABASE, SEARCHES_DIRECTORY } from './search-lookup';
