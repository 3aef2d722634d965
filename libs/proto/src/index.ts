export * from './gen/relativenas/v1/genotype';
export * from './gen/relativenas/v1/task';
export * from './gen/relativenas/v1/search';
export * from './gen/relativenas/v1/training';
export * from './gen/relativenas/v1/inference';
