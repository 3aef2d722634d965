// Classification as a task: the libs/nas network of the spec, answering logits and softmax probabilities.
import type { Tensor4D } from '@rnas/engine';
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

  /**
   * Per image, the `classes` logits then their softmax probabilities (`classificationRecord`),
   * the softmax computed stably here (`stableSoftmax`): an image whose logits overflowed has NaN
   * probabilities, which its caller must refuse rather than serve.
   */
  infer(params: ParamMap, input: Tensor4D): Float32Array {
    const { logits } = this.network.forward(params, input);
    let values: Float32Array;
    try {
      // A copy: some backends hand out their own storage, which the dispose frees.
      values = Float32Array.from(logits.dataSync());
    } finally {
      logits.dispose();
    }
    const classes = this.spec.network.classes;
    const n = values.length / classes;
    const records = new Float32Array(n * 2 * classes);
    for (let i = 0; i < n; i++) {
      const row = values.subarray(i * classes, (i + 1) * classes);
      const record = classificationRecord(records, i, classes);
      record.logits.set(row);
      record.probabilities.set(stableSoftmax(row));
    }
    return records;
  }
}

/**
 * The softmax of one image's logits, computed in float64 after subtracting the largest logit, so
 * that extreme but finite logits (±3e38, whose exponentials overflow) still give probabilities
 * that are finite, in [0, 1] and sum to 1. A row with a NaN or infinite logit has no meaningful
 * probabilities: every one is NaN, and callers refuse the row (it is never a score to serve).
 */
export function stableSoftmax(logits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(logits.length);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i])) return out.fill(NaN);
    max = Math.max(max, logits[i]);
  }
  let sum = 0;
  const exps = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    // Each exponent is <= 0 (the largest one is exactly 0), so sum >= 1 and nothing overflows.
    exps[i] = Math.exp(logits[i] - max);
    sum += exps[i];
  }
  for (let i = 0; i < logits.length; i++) out[i] = exps[i] / sum;
  return out;
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
