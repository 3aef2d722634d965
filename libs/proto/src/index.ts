export * from './gen/relativenas/v1/genotype';
