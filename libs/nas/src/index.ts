export {
  PRIMITIVES,
  OP_NAMES,
  CELL_TYPES,
  GenotypeError,
  GenotypeJsonSchema,
  isOpName,
  cellSteps,
  validateGenotype,
  cloneGenotype,
  genotypesEqual,
  genotypeFromJson,
  type Primitive,
  type OpName,
  type Edge,
  type Genotype,
  type CellType,
} from './genotype';
export {
  PUBLISHED_GENOTYPE_NAMES,
  PUBLISHED_GENOTYPES,
  isPublishedGenotypeName,
  getPublishedGenotype,
  resolveGenotype,
  parseGenotypeArg,
  type PublishedGenotypeName,
} from './genotypes';
export {
  encodingLength,
  encodingBounds,
  decodeIndex,
  decodeVector,
  encodeGenotype,
  clipToBounds,
  randomVector,
  type EncodingBounds,
} from './encoding';
export { genotypeToProto, genotypeFromProto } from './genotype-proto';
export {
  networkSpecToProto,
  networkSpecFromProto,
  NetworkSpecProtoError,
  type NetworkSpecFields,
} from './network-spec-proto';
export {
  runSearch,
  searchSplits,
  evaluatorSetup,
  searchArtifacts,
  type SearchRun,
  type SearchResult,
  type SearchEvent,
  type SearchStartEvent,
  type SearchPairEvent,
  type SearchGenerationEvent,
} from './search/search';
export { searchFromDataset, startEvaluator, type SearchFromDatasetOptions } from './search/from-dataset';
export {
  resolveSearchConfig,
  DEFAULT_SEARCH_CONFIG,
  SEARCH_STRATEGIES,
  SearchConfigError,
  type SearchConfig,
  type SearchStrategy,
} from './search/search-config';
export {
  InProcessEvaluator,
  pairJobs,
  validationJobs,
  type Evaluator,
  type EvaluatorSetup,
  type PairContext,
  type ValidationContext,
} from './search/evaluator';
export { WorkerPoolEvaluator, type WorkerPoolOptions } from './search/worker-pool';
export {
  candidateJobFromProto,
  candidateJobToProto,
  candidateResultFromProto,
  candidateResultToProto,
  EvaluationMessageError,
  evaluationSetupFromProto,
  evaluationSetupToProto,
  searchDataCrc32,
  type RemoteSetup,
} from './search/candidate-proto';
export { WeightSet, weightSetLayout, type HostParams, type TrainedCandidate } from './search/weight-set';
export {
  evaluateCandidate,
  type CandidateJob,
  type CandidateResult,
  type SearchData,
  type TrainingRecipe,
} from './search/candidate';
export { searchNetworkSpec, isReductionCell, type SearchNetworkConfig } from './search/search-network';
export {
  genotypeSvg,
  edgeOrigins,
  type EdgeOrigin,
  type EdgeOrigins,
  type DiagramOptions,
} from './search/diagram';
export {
  withoutTiming,
  type SearchHistory,
  type GenerationRecord,
  type CandidateRecord,
  type PairRecord,
  type BestRecord,
  type FinalRecord,
  type FinalCandidateRecord,
} from './search/history';
export { STRATEGIES, RELATIVENAS, RANDOM } from './search/strategies';
export { type Strategy, type FinalCandidate } from './search/strategy';
export { cosineLearningRate, dropPathProbability } from './search/schedules';
export { DIVERGED_LOSS, lossDiverged, candidateDiverged, SearchDivergedError } from './search/divergence';
export {
  randomPairs,
  decideRoles,
  moveStudent,
  updatePopulation,
  diversity,
  type Pair,
  type Roles,
} from './search/population';
export {
  readCheckpoint,
  readCheckpointHistory,
  writeCheckpoint,
  type SearchState,
} from './search/checkpoint';
export { readSearchHistory, parseSearchHistory } from './search/history-file';
export {
  BATCHES_TRACKED_SUFFIX,
  convParam,
  depthwiseParam,
  linearParams,
  batchNormParams,
  countParams,
  initParams,
  importParams,
  exportParams,
  disposeParams,
  type ParamInfo,
  type ParamInit,
  type ParamKind,
  type ParamLayout,
  type ParamMap,
} from './params';
export {
  BatchNorm,
  Conv,
  Depthwise,
  Sequential,
  type Module,
  type Shape3,
  type Trace,
  type DropPath,
  type BatchStats,
  type ForwardContext,
} from './layers';
export { OPS, type OpFactory } from './ops';
export { Cell, dropPath, type CellConfig } from './cell';
export { derivedTensorCount, sweepDerived, tensorsBesidesDerived } from './derived';
export {
  Network,
  BN_EPS,
  forwardContext,
  type NetworkSpec,
  type NetworkVariant,
  type ForwardOptions,
  type ForwardResult,
  type NetworkTrace,
  type NetworkOptions,
} from './network';
export { parseSpecFile, readSpecFile, type SpecFile } from './network-spec';
export { softmaxCrossEntropy, labelsTensor } from './loss';
export { Sgd, globalNorm, type SgdOptions } from './sgd';
export {
  trainStep,
  gradientStep,
  updateRunningStats,
  defaultRecompute,
  RECOMPUTE_ABOVE_BYTES,
  type TrainStepOptions,
  type TrainStepResult,
} from './train-step';
