// The one interface a task implements (classification, detection, ...): the network of a backbone
// and its head, how it trains (loss on a batch), how it answers (inference output), how it is
// evaluated (metrics) and what a model of it records. The trainer, the model format and the
// inference service dispatch through it; a task's specifics live in its own folder.
import type { Tensor4D } from '@rnas/engine';
import type { RngState } from '@rnas/data';
import type { NetworkSpec, ParamInfo, ParamMap, Sgd } from '@rnas/nas';
import type { DetectionConfig } from './detection/config';
import type { KeypointConfig } from './keypoints/config';
import type { SegmentationConfig } from './segmentation/config';

export const TASK_NAMES = ['classification', 'detection', 'segmentation', 'keypoints'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** What rebuilds a task's network, besides its weights: stored with every model. */
export interface TaskModelSpec {
  readonly task: TaskName;
  /**
   * The backbone (classification: the whole network). `classes` is the number of labels: the
   * classifier's outputs, or the object classes of a detector (background excluded).
   */
  readonly network: NetworkSpec;
  /** Detection only: the head and its priors. */
  readonly detection?: DetectionConfig;
  /** Segmentation only: BiSeNet's input size, augmentation and learning rates. */
  readonly segmentation?: SegmentationConfig;
  /** Keypoints only: SimpleBaseline's crop, augmentation and the dataset's keypoints. */
  readonly keypoints?: KeypointConfig;
}

/** The network of a task (backbone and head) as a function of a parameter map: it owns no tensors. */
export interface TaskNetwork {
  readonly spec: TaskModelSpec;
  /** Every parameter and buffer, under reference names. */
  readonly params: readonly ParamInfo[];
  /** Trainable parameters of the inference network. */
  countParams(): number;
  /** Throws a clear error when an input of `height x width` cannot pass. */
  checkInput(height: number, width: number): void;
  /** Values per image that `infer` returns (the task's serving record). */
  readonly outputSize: number;
  /**
   * Inference on a batch of normalised NHWC images: `n * outputSize` values, the task's serving
   * record per image (classification: softmax probabilities; detection: decoded detections, see
   * `detection/record.ts`). Frees every tensor it makes.
   */
  infer(params: ParamMap, input: Tensor4D): Float32Array;
}

/** What a task's training reads of the recipe (libs/train's Recipe has these fields and more). */
export interface TaskRecipe {
  readonly epochs: number;
  readonly batchSize: number;
  /** Drives initialisation, data order, augmentation and drop path. */
  readonly seed: number;
  /** Training images per epoch, a fresh random draw each epoch; 0: the whole training split. */
  readonly trainImages: number;
  /** Evaluated images (the first ones of the evaluation split); 0: all of them. */
  readonly evalImages: number;
  readonly cropPadding: number;
  readonly horizontalFlip: boolean;
  readonly cutout: number;
  readonly auxiliaryWeight: number;
  readonly labelSmoothing: number;
}

/** One epoch as the trainer runs it (epochs count from 0). */
export interface EpochContext {
  readonly epoch: number;
  readonly learningRate: number;
  /** This epoch's drop-path probability (the recipe's ramp). */
  readonly dropPath: number;
  /** Checked between batches. */
  readonly signal?: AbortSignal;
  /** The error to throw when the signal fired. */
  readonly cancelled: () => Error;
}

/** What a training epoch gives back. */
export interface EpochTraining {
  /** Mean training loss over the epoch's images. */
  readonly loss: number;
  /** Top-1 training accuracy where the task has one, else null. */
  readonly accuracy: number | null;
  readonly images: number;
  /** Time spent in steps (data loading and evaluation excluded). */
  readonly stepMs: number;
}

/** An evaluation of the parameters on the evaluation images. */
export interface TaskEvaluation {
  /** Mean loss in inference mode; null without images. */
  readonly loss: number | null;
  /** The task's metrics by name ("accuracy"; "AP50", "AP", ...); empty without images. */
  readonly metrics: Readonly<Record<string, number>>;
  readonly images: number;
}

/**
 * A task's training of one network on one dataset: the trainer (libs/train) owns the epochs, the
 * schedule, the optimiser, checkpoints and reports; the task owns its data pipeline, its loss and
 * its evaluation. Every tensor it makes is freed, also when it throws.
 */
export interface TaskTraining {
  readonly network: TaskNetwork;
  /** What identifies the data, part of a checkpoint's fingerprint. */
  readonly dataFingerprint: unknown;
  /** The labels a published model answers with, index order. */
  readonly labels: readonly string[];
  /** How raw pixels become the network's input (what the model records). */
  readonly preprocessing: TaskPreprocessing;
  /** Runs one epoch of steps, updating `params` in place. */
  trainEpoch(params: ParamMap, optimizer: Sgd, context: EpochContext): Promise<EpochTraining>;
  /** Inference-mode loss and metrics on the evaluation images. */
  evaluate(params: ParamMap, context: Pick<EpochContext, 'signal' | 'cancelled'>): Promise<TaskEvaluation>;
  /** The state of the task's own random generator (drop path), for a checkpoint. */
  randomState(): RngState;
}

/** Input size and normalisation: a pixel v in [0, 255] enters as (v / 255 - mean[c]) / std[c]. */
export interface TaskPreprocessing {
  readonly inputHeight: number;
  readonly inputWidth: number;
  readonly channels: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}
