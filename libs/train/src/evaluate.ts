// Accuracy and loss of a network on a split, and the top-k answer inference gives per image.
import { tf, type Tensor2D, type Tensor4D } from '@rnas/engine';
import { hostBatches, toTensors, type Split } from '@rnas/data';
import type { Model } from '@rnas/model';
import { ClassificationNetwork } from '@rnas/tasks';
import { softmaxCrossEntropy, type Network, type ParamMap } from '@rnas/nas';
import { invalidArgument, TrainError } from './errors';

export interface Evaluation {
  /** Mean cross-entropy (inference mode); null when the split is empty. */
  readonly loss: number | null;
  /** Top-1 accuracy in [0, 1]; null when the split is empty. */
  readonly accuracy: number | null;
  readonly images: number;
}

export interface EvaluateOptions {
  /** Default 128. */
  readonly batchSize?: number;
  /** Checked between batches; an aborted signal throws its reason. */
  readonly signal?: AbortSignal;
  /** Called when the signal fires, instead of throwing the signal's reason. */
  readonly onAbort?: () => Error;
}

/** Yields to the event loop, so that an abort (or a worker's message) can arrive between batches. */
export function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function checkAborted(signal: AbortSignal | undefined, onAbort?: () => Error): void {
  if (signal?.aborted === true) throw onAbort === undefined ? (signal.reason as Error) : onAbort();
}

/** Number of correct top-1 predictions among `logits` for `labels`. */
export function countCorrect(logits: Tensor2D, labels: Int32Array): number {
  const predicted = tf.tidy(() => tf.argMax(logits, 1).dataSync());
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct;
}

/** Inference-mode loss and accuracy of `network` with `params` on every image of `split`. */
export async function evaluateNetwork(
  network: Network,
  params: ParamMap,
  split: Split,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  if (split.size === 0) return { loss: null, accuracy: null, images: 0 };
  let loss = 0;
  let correct = 0;
  for (const host of hostBatches(split, { batchSize: options.batchSize ?? 128 })) {
    await nextTick();
    checkAborted(options.signal, options.onAbort);
    const batch = toTensors(host);
    try {
      const { logits } = network.forward(params, batch.images);
      try {
        loss += tf.tidy(() => softmaxCrossEntropy(logits, batch.labels).dataSync()[0]) * host.size;
        correct += countCorrect(logits, host.labels);
      } finally {
        logits.dispose();
      }
    } finally {
      batch.images.dispose();
      batch.labels.dispose();
    }
  }
  return { loss: loss / split.size, accuracy: correct / split.size, images: split.size };
}

/**
 * A model's loss and accuracy on a split of a dataset, normalised with the model's own
 * preprocessing (not the split's statistics): what a client sending those images would get.
 */
export async function evaluate(
  model: Model,
  split: Split,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const pre = model.preprocessing;
  const [h, w, c] = split.imageShape;
  if (h !== pre.inputHeight || w !== pre.inputWidth || c !== pre.channels) {
    throw new TrainError(
      'INVALID_ARGUMENT',
      `split: images are ${h}x${w}x${c}, the model takes ${pre.inputHeight}x${pre.inputWidth}x${pre.channels}`,
    );
  }
  if (split.numClasses !== model.labels.length) {
    throw new TrainError(
      'INVALID_ARGUMENT',
      `split: ${split.numClasses} classes, the model has ${model.labels.length}`,
    );
  }
  return evaluateNetwork(
    classifier(model),
    model.params,
    { ...split, mean: pre.mean, std: pre.std },
    options,
  );
}

/** The network of a classification model; a model of another task is FAILED_PRECONDITION. */
function classifier(model: Model): Network {
  if (!(model.network instanceof ClassificationNetwork)) {
    throw new TrainError('FAILED_PRECONDITION', `the model is a ${model.task.task} model, not a classifier`);
  }
  return model.network.network;
}

export interface Prediction {
  readonly label: string;
  /** Class index. */
  readonly index: number;
  /** Softmax probability. */
  readonly score: number;
}

/**
 * The k most probable classes of each row of `logits`, best first, with softmax scores. `k`
 * larger than the number of classes gives every class.
 */
export function topK(logits: Tensor2D, labels: readonly string[], k: number): Prediction[][] {
  const [n, classes] = logits.shape;
  if (classes !== labels.length) {
    throw invalidArgument('labels.length', labels.length, `one label per logit (${classes})`);
  }
  if (!Number.isSafeInteger(k) || k < 1) throw invalidArgument('k', k, 'a positive integer');
  const kk = Math.min(k, classes);
  const [values, indices] = tf.tidy(() => {
    const top = tf.topk(tf.softmax(logits), kk, true);
    return [top.values.dataSync(), top.indices.dataSync()];
  });
  const out: Prediction[][] = [];
  for (let i = 0; i < n; i++) {
    const row: Prediction[] = [];
    for (let j = 0; j < kk; j++) {
      const index = indices[i * kk + j];
      row.push({ label: labels[index], index, score: values[i * kk + j] });
    }
    out.push(row);
  }
  return out;
}

/** Inference on a batch of normalised NHWC images: the top-k classes per image. */
export function predict(model: Model, images: Tensor4D, k = 5): Prediction[][] {
  const pre = model.preprocessing;
  const [, h, w, c] = images.shape;
  if (h !== pre.inputHeight || w !== pre.inputWidth || c !== pre.channels) {
    throw invalidArgument(
      'images.shape',
      `[${images.shape.join(', ')}]`,
      `[N, ${pre.inputHeight}, ${pre.inputWidth}, ${pre.channels}] (NHWC)`,
    );
  }
  const { logits } = classifier(model).forward(model.params, images);
  try {
    return topK(logits, model.labels, k);
  } finally {
    logits.dispose();
  }
}
