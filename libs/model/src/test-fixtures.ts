// Shared by this package's tests: a tiny freshly initialised network as an artifact (the format
// does not care whether the weights were trained). Not part of the package's API.
import {
  disposeParams,
  exportParams,
  getPublishedGenotype,
  initParams,
  Network,
  type NetworkSpec,
} from '@rnas/nas';
import type { ModelArtifact } from './artifact';

/** DARTS_V2 cells, 4 channels, 3 cells, 3 classes, 8x8 grey images. */
export const TINY_SPEC: NetworkSpec = {
  variant: 'cifar',
  genotype: getPublishedGenotype('DARTS_V2'),
  channels: 4,
  layers: 3,
  classes: 3,
  inChannels: 1,
  auxiliary: false,
};

/** The tiny network's artifact, weights initialised with seed 7 (call after `initBackend`). */
export async function tinyArtifact(): Promise<{ artifact: ModelArtifact }> {
  const network = new Network(TINY_SPEC);
  const params = initParams(network.params, 7);
  try {
    return {
      artifact: {
        spec: TINY_SPEC,
        preprocessing: { inputHeight: 8, inputWidth: 8, channels: 1, mean: [0.45], std: [0.27] },
        labels: ['circle', 'square', 'triangle'],
        weights: exportParams(network.params, params),
        metadata: { dataset: 'synthetic:shapes', epochs: '1' },
      },
    };
  } finally {
    disposeParams(params);
  }
}
