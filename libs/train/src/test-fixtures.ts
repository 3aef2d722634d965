// Shared by this package's tests: a tiny network and synthetic data small enough that a whole
// training runs in about a second. Not part of the package's API (the barrel does not export it).
import { openDataset, type Dataset } from '@rnas/data';
import type { Genotype } from '@rnas/nas';
import type { ModelArtifact } from '@rnas/model';
import { artifactFromTraining, train, type TrainResult, type TrainSpec } from './trainer';

/** Two-step cells with cheap ops, one parametric op per cell type so that training moves weights. */
export const TINY_GENOTYPE: Genotype = {
  normal: [
    ['sep_conv_3x3', 0],
    ['skip_connect', 1],
    ['max_pool_3x3', 0],
    ['skip_connect', 2],
  ],
  normalConcat: [2, 3],
  reduce: [
    ['max_pool_3x3', 0],
    ['dil_conv_3x3', 1],
    ['skip_connect', 2],
    ['avg_pool_3x3', 0],
  ],
  reduceConcat: [2, 3],
};

export const TINY_SPEC: TrainSpec = {
  variant: 'cifar',
  channels: 4,
  layers: 3,
  classes: 3,
  inChannels: 1,
  auxiliary: false,
};

/** 8x8 grey synthetic shapes, 3 classes. */
export function tinyDataset(train = 24, test = 8, size = 8): Promise<Dataset> {
  return openDataset(`synthetic:shapes?classes=3&size=${size}&channels=1&train=${train}&test=${test}&seed=7`);
}

/** A recipe that trains the tiny network in a few batches. */
export const TINY_RECIPE = {
  epochs: 3,
  batchSize: 8,
  learningRate: 0.05,
  cutout: 4,
  dropPath: 0.2,
  seed: 11,
};

/** A trained tiny model's artifact (one short epoch) and its dataset. */
export async function tinyArtifact(): Promise<{
  artifact: ModelArtifact;
  dataset: Dataset;
  result: TrainResult;
}> {
  const dataset = await tinyDataset();
  const result = await train({
    spec: TINY_SPEC,
    genotype: TINY_GENOTYPE,
    dataset,
    recipe: { ...TINY_RECIPE, epochs: 1 },
  });
  return { artifact: artifactFromTraining(result, dataset), dataset, result };
}
