import {
  disposeParams,
  exportParams,
  getPublishedGenotype,
  initParams,
  Network,
  type NetworkSpec,
  type PublishedGenotypeName,
} from '@rnas/nas';
import type { ModelArtifact } from './artifact';

export interface SyntheticModelOptions {
  /** A published genotype [DARTS_V2]. */
  genotype?: PublishedGenotypeName;
  /** Initial channels C [4]. */
  channels?: number;
  /** Cells [3]. */
  layers?: number;
  /** Classes [10]. */
  classes?: number;
  /** 1 grayscale, 3 RGB [1]. */
  inChannels?: number;
  /** Square input side in pixels [16]. */
  inputSize?: number;
  /** Seed of the PyTorch-style initialisation [0]. */
  seed?: number;
}

/**
 * A freshly initialised CIFAR-family model as an artifact: what the tests and the load benchmark
 * use when no trained model is at hand. Its scores are meaningless but deterministic by seed,
 * and it exercises the same load, warm-up and forward path as a trained one.
 */
export function syntheticArtifact(options: SyntheticModelOptions = {}): ModelArtifact {
  const classes = options.classes ?? 10;
  const inChannels = options.inChannels ?? 1;
  const inputSize = options.inputSize ?? 16;
  const spec: NetworkSpec = {
    variant: 'cifar',
    genotype: getPublishedGenotype(options.genotype ?? 'DARTS_V2'),
    channels: options.channels ?? 4,
    layers: options.layers ?? 3,
    classes,
    inChannels,
    auxiliary: false,
  };
  const network = new Network(spec);
  const params = initParams(network.params, options.seed ?? 0);
  try {
    return {
      spec,
      preprocessing: {
        inputHeight: inputSize,
        inputWidth: inputSize,
        channels: inChannels,
        mean: Array.from({ length: inChannels }, (_, c) => 0.4 + 0.05 * c),
        std: Array.from({ length: inChannels }, (_, c) => 0.25 + 0.01 * c),
      },
      labels: Array.from({ length: classes }, (_, i) => `class-${i}`),
      weights: exportParams(network.params, params),
      metadata: { source: 'synthetic' },
    };
  } finally {
    disposeParams(params);
  }
}
