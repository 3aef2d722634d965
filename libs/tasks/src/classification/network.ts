// Classification as a task: the libs/nas network of the spec, answering logits and softmax probabilities.
import { tf, type Tensor4D } from '@rnas/engine';
import { Network, type ForwardOptions, type ForwardResult, type ParamInfo, type ParamMap } from '@rnas/nas';
import type { TaskModelSpec, TaskNetwork } from '../task';

export class ClassificationNetwork implements TaskNetwork {
  readonly network: Network;
  readonly params: readonly ParamInfo[];
  /** Per image: the logits of every class, then their softmax probabilities (`classificationRecord`). */
  readonly outputSize: number;

  constructor(readonly spec: TaskModelSpec) {
    if (spec.task !== 'classification') {
      throw new Error(
        `classification: the model spec's task is '${String(spec.task)}', expected 'classification'`,
      );
    }
    if (spec.detection !== undefined) {
      throw new Error('classification: the model spec has a detection config, which only detection takes');
    }
    this.network = new Network(spec.network);
    this.params = this.network.params;
    this.outputSize = 2 * spec.network.classes;
  }

  /** Trainable parameters of the inference network (without the auxiliary head). */
  countParams(): number {
    return this.network.countParams();
  }

  checkInput(height: number, width: number): void {
    this.network.trace(height, width);
  }

  forward(params: ParamMap, input: Tensor4D, options: ForwardOptions = {}): ForwardResult {
    return this.network.forward(params, input, options);
  }

  /** Per image, the `classes` logits then their softmax probabilities (`classificationRecord`). */
  infer(params: ParamMap, input: Tensor4D): Float32Array {
    const { logits } = this.network.forward(params, input);
    try {
      // A copy: some backends hand out their own storage, which the tidy frees.
      return tf.tidy(() => Float32Array.from(tf.concat([logits, tf.softmax(logits)], 1).dataSync()));
    } finally {
      logits.dispose();
    }
  }
}

/**
 * One image's logits and probabilities in a batch of classification records (`classes` logits
 * then `classes` probabilities per image), as views.
 */
export function classificationRecord(
  records: Float32Array,
  image: number,
  classes: number,
): { logits: Float32Array; probabilities: Float32Array } {
  const base = image * 2 * classes;
  return {
    logits: records.subarray(base, base + classes),
    probabilities: records.subarray(base + classes, base + 2 * classes),
  };
}
