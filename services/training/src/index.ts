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
export { SearchLookup, SEARCH_LOOKUP_DEADLINE_MS } from './search-lookup';
