// The one interface a task implements (classification, detection, ...): the network of a backbone
// and its head, how it trains (loss on a batch), how it answers (inference output), how it is
// evaluated (metrics) and what a model of it records. The trainer, the model format and the
// inference service dispatch through it; a task's specifics live in its own folder.
import type { Tensor4D } from '@rnas/engine';
import type { NetworkSpec, ParamInfo, ParamMap } from '@rnas/nas';
import type { DetectionConfig } from './detection/config';

export const TASK_NAMES = ['classification', 'detection'] as const;
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
