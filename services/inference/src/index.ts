export { Batcher, type BatcherObserver, type BatcherOptions, type Slot } from './batcher';
export { DEFAULT_TOP_K, MAX_TOP_K } from './classify-input';
export { ComputeEngine, type ComputeEngineOptions } from './compute';
export type { LoadedModelInfo } from './compute-protocol';
export {
  DEFAULT_INFERENCE_ADDRESS,
  INFERENCE_OPTIONS,
  SERVICE_PORTS,
  inferenceHelp,
  loadInferenceConfig,
  type InferenceConfig,
  type InferenceOptions,
} from './config';
export { forwardProbabilities, warmUp } from './forward';
export { InferenceHandlers, type HandlerOptions } from './handlers';
export { InferenceMetrics } from './metrics';
export { modelToProto, versionToProto } from './model-proto';
export { decodeImage, type InputShape } from './preprocess';
export { joinBytesElements, splitBytesElements } from './oip/tensors';
export {
  ModelRepository,
  servingVersion,
  type ModelRecord,
  type VersionRecord,
  type VersionState,
} from './repository';
export { ServedModel, type BatchingOptions, type ModelEngine } from './served-model';
export {
  INFERENCE_SERVICE,
  main,
  startInferenceService,
  type InferenceService,
  type StartOptions,
} from './service';
