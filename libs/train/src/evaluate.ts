// Accuracy and loss of a network on a split, and the top-k answer inference gives per image.
import { tf, type Tensor2D, type Tensor4D } from '@rnas/engine';
import type { Split } from '@rnas/data';
import type { Model } from '@rnas/model';
import { ClassificationNetwork, evaluateNetwork, type EvaluateOptions, type Evaluation } from '@rnas/tasks';

export { evaluateNetwork, type EvaluateOptions, type Evaluation };
import type { Network } from '@rnas/nas';
import { invalidArgument, TrainError } from './errors';

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
