export * from './gen/relativenas/v1/genotype';
export * from './gen/relativenas/v1/evaluation';
export * from './gen/relativenas/v1/task';
export * from './gen/relativenas/v1/search';
export * from './gen/relativenas/v1/training';
export * from './gen/relativenas/v1/inference';
// The Open Inference Protocol (KServe v2 with Triton's extensions), package `inference`.
export * from './gen/inference/model_config';
export * from './gen/inference/grpc_service';
// The FileDescriptorSet of every file above (and grpc/health/v1/health.proto), for server reflection.
export * from './gen/descriptor-set';
