import {
  disposeParams,
  exportParams,
  getPublishedGenotype,
  initParams,
  type NetworkSpec,
  type NetworkVariant,
  type PublishedGenotypeName,
} from '@rnas/nas';
import {
  DETECTION_MEAN,
  DETECTION_STD,
  resolveDetectionConfig,
  taskNetwork,
  type TaskName,
} from '@rnas/tasks';
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
  /** [cifar]; a detector is always the ImageNet variant. */
  variant?: NetworkVariant;
  /** [classification]; a detector takes RGB input of `inputSize` (a multiple of 32, default 64). */
  task?: TaskName;
}

/**
 * A freshly initialised model (a CIFAR- or ImageNet-family classifier, or a detector) as an artifact: what the tests and the load benchmark
 * use when no trained model is at hand. Its scores are meaningless but deterministic by seed,
 * and it exercises the same load, warm-up and forward path as a trained one.
 */
export function syntheticArtifact(options: SyntheticModelOptions = {}): ModelArtifact {
  const detecting = options.task === 'detection';
  const classes = options.classes ?? 10;
  const inChannels = detecting ? 3 : (options.inChannels ?? 1);
  const inputSize = options.inputSize ?? (detecting ? 64 : 16);
  const spec: NetworkSpec = {
    variant: detecting ? 'imagenet' : (options.variant ?? 'cifar'),
    genotype: getPublishedGenotype(options.genotype ?? 'DARTS_V2'),
    channels: options.channels ?? 4,
    layers: options.layers ?? 3,
    classes,
    inChannels,
    auxiliary: false,
  };
  const detection = detecting ? resolveDetectionConfig({ inputSize }) : undefined;
  const network = taskNetwork(
    detection === undefined
      ? { task: 'classification', network: spec }
      : { task: 'detection', network: spec, detection },
  );
  const params = initParams(network.params, options.seed ?? 0);
  try {
    return {
      spec,
      ...(detection === undefined ? {} : { task: 'detection' as const, detection }),
      preprocessing: {
        inputHeight: inputSize,
        inputWidth: inputSize,
        channels: inChannels,
        mean: Array.from({ length: inChannels }, (_, c) =>
          detecting ? DETECTION_MEAN / 255 : 0.4 + 0.05 * c,
        ),
        std: Array.from({ length: inChannels }, (_, c) =>
          detecting ? DETECTION_STD / 255 : 0.25 + 0.01 * c,
        ),
      },
      labels: Array.from({ length: classes }, (_, i) => `class-${i}`),
      weights: exportParams(network.params, params),
      metadata: { source: 'synthetic' },
    };
  } finally {
    disposeParams(params);
  }
}
