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
  resolveKeypointConfig,
  resolveSegmentationConfig,
  taskNetwork,
  type KeypointConfig,
  type TaskModelSpec,
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
  /** Square input side in pixels [16; dense tasks 64]. */
  inputSize?: number;
  /** Input height, overriding inputSize (segmentation and keypoints: a multiple of 32). */
  inputHeight?: number;
  /** Input width, overriding inputSize (segmentation and keypoints: a multiple of 32). */
  inputWidth?: number;
  /** Seed of the PyTorch-style initialisation [0]. */
  seed?: number;
  /** [cifar]; a dense-task model is always the ImageNet variant. */
  variant?: NetworkVariant;
  /**
   * [classification]; a dense-task model takes RGB input of `inputSize` (a multiple of 32, default
   * 64). A keypoint model has the five keypoints of SYNTHETIC_KEYPOINTS (`classes` is ignored).
   */
  task?: TaskName;
}

/** The keypoints of a synthetic keypoint model: a stick figure's head, hands and feet. */
export const SYNTHETIC_KEYPOINTS: Pick<
  KeypointConfig,
  'keypointNames' | 'skeleton' | 'flipPairs' | 'oksSigmas'
> = {
  keypointNames: ['head', 'left_hand', 'right_hand', 'left_foot', 'right_foot'],
  skeleton: [
    [0, 1],
    [0, 2],
    [0, 3],
    [0, 4],
  ],
  flipPairs: [
    [1, 2],
    [3, 4],
  ],
  oksSigmas: [0.026, 0.062, 0.062, 0.089, 0.089],
};

/** ImageNet's per-channel mean and std on the [0, 1] scale (what the dense tasks' trainings record). */
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * A freshly initialised model (a CIFAR- or ImageNet-family classifier, a detector, a segmenter or
 * a keypoint model) as an artifact: what the tests and the load benchmark use when no trained
 * model is at hand. Its scores are meaningless but deterministic by seed,
 * and it exercises the same load, warm-up and forward path as a trained one.
 */
export function syntheticArtifact(options: SyntheticModelOptions = {}): ModelArtifact {
  const task = options.task ?? 'classification';
  const dense = task !== 'classification';
  const inChannels = dense ? 3 : (options.inChannels ?? 1);
  const inputHeight = options.inputHeight ?? options.inputSize ?? (dense ? 64 : 16);
  const inputWidth = options.inputWidth ?? options.inputSize ?? (dense ? 64 : 16);
  const keypoints =
    task === 'keypoints'
      ? resolveKeypointConfig({ inputHeight, inputWidth, ...SYNTHETIC_KEYPOINTS })
      : undefined;
  const labels =
    keypoints !== undefined
      ? [...keypoints.keypointNames]
      : Array.from({ length: options.classes ?? 10 }, (_, i) => `class-${i}`);
  const spec: NetworkSpec = {
    variant: dense ? 'imagenet' : (options.variant ?? 'cifar'),
    genotype: getPublishedGenotype(options.genotype ?? 'DARTS_V2'),
    channels: options.channels ?? 4,
    layers: options.layers ?? 3,
    classes: labels.length,
    inChannels,
    auxiliary: false,
  };
  let taskSpec: TaskModelSpec;
  switch (task) {
    case 'classification':
      taskSpec = { task, network: spec };
      break;
    case 'detection':
      if (inputHeight !== inputWidth)
        throw new Error(`a detector's input is square, got ${inputHeight}x${inputWidth}`);
      taskSpec = { task, network: spec, detection: resolveDetectionConfig({ inputSize: inputHeight }) };
      break;
    case 'segmentation':
      taskSpec = {
        task,
        network: spec,
        segmentation: resolveSegmentationConfig({ inputHeight, inputWidth }),
      };
      break;
    case 'keypoints':
      taskSpec = { task, network: spec, keypoints };
      break;
  }
  const network = taskNetwork(taskSpec);
  const params = initParams(network.params, options.seed ?? 0);
  const { network: _network, ...taskFields } = taskSpec;
  // Detection keeps the reference's 127/128 scaling; the newer dense tasks train on ImageNet's.
  const perChannel = (f: (c: number) => number): number[] =>
    Array.from({ length: inChannels }, (_, c) => f(c));
  const mean = perChannel((c) =>
    task === 'detection' ? DETECTION_MEAN / 255 : dense ? IMAGENET_MEAN[c] : 0.4 + 0.05 * c,
  );
  const std = perChannel((c) =>
    task === 'detection' ? DETECTION_STD / 255 : dense ? IMAGENET_STD[c] : 0.25 + 0.01 * c,
  );
  try {
    return {
      spec,
      ...(task === 'classification' ? {} : taskFields),
      preprocessing: {
        inputHeight,
        inputWidth,
        channels: inChannels,
        mean,
        std,
      },
      labels,
      weights: exportParams(network.params, params),
      metadata: { source: 'synthetic' },
    };
  } finally {
    disposeParams(params);
  }
}
