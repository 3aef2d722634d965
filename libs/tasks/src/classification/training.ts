// Classification's training (RELATIVENAS.md section 7): the epoch's images (the whole training
// split in a seeded order, or a fresh random draw), crop/flip/cutout augmentation, the reference
// train step (drop path, auxiliary head, label smoothing) and top-1 accuracy; evaluation is the
// inference-mode loss and accuracy on the test split. Random numbers: the drop-path draws come
// from one generator seeded by deriveSeed(seed, 1) whose state the checkpoint carries; the epoch's
// data order and augmentation from deriveSeed(seed, 2 | 3, epoch).
import { tf, type Tensor2D } from '@rnas/engine';
import {
  deriveSeed,
  hostBatches,
  Rng,
  subset,
  takeIndices,
  toTensors,
  type Dataset,
  type RngState,
  type Split,
} from '@rnas/data';
import { softmaxCrossEntropy, trainStep, type Network, type ParamMap, type Sgd } from '@rnas/nas';
import type {
  EpochContext,
  EpochTraining,
  TaskEvaluation,
  TaskModelSpec,
  TaskRecipe,
  TaskTraining,
} from '../task';
import { ClassificationNetwork } from './network';

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

/** The images of one epoch: the whole training split, or a fresh random draw of `trainImages`. */
function epochImages(
  train: Split,
  recipe: TaskRecipe,
  epoch: number,
): { split: Split; shuffleSeed?: number } {
  const orderSeed = deriveSeed(recipe.seed, 2, epoch);
  if (recipe.trainImages === 0 || recipe.trainImages >= train.size)
    return { split: train, shuffleSeed: orderSeed };
  return {
    split: takeIndices(
      train,
      Rng.fromSeed(orderSeed).permutation(train.size).subarray(0, recipe.trainImages),
    ),
  };
}

/** A dataset's problem with the network: the field and what it must be. */
export class ClassificationDataError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ClassificationDataError';
  }
}

export interface ClassificationTrainingOptions {
  readonly spec: TaskModelSpec;
  readonly dataset: Dataset;
  readonly recipe: TaskRecipe;
  /** The drop-path generator's state from a checkpoint; absent: a fresh start. */
  readonly randomState?: RngState;
  /** Wraps each step: the trainer turns backend failures into its own errors there. */
  readonly runStep: <T>(epoch: number, batch: number, step: () => T) => T;
  /** Called with each step's loss: throws when it is not finite. */
  readonly checkLoss: (loss: number, epoch: number, batch: number) => void;
}

/** The network of the spec checked against the dataset's images and classes. */
function checkedNetwork(spec: TaskModelSpec, dataset: Dataset): ClassificationNetwork {
  const task = new ClassificationNetwork(spec);
  const [h, w, c] = dataset.imageShape;
  const net = spec.network;
  if (net.inChannels !== c) {
    throw new ClassificationDataError(
      'spec.inChannels',
      `spec.inChannels: expected the dataset's ${c} image channels, got ${net.inChannels}`,
    );
  }
  if (net.classes !== dataset.classNames.length) {
    throw new ClassificationDataError(
      'spec.classes',
      `spec.classes: expected the dataset's ${dataset.classNames.length} classes, got ${net.classes}`,
    );
  }
  try {
    task.checkInput(h, w);
  } catch (err) {
    throw new ClassificationDataError(
      'spec',
      `spec: the network cannot take the dataset's ${h}x${w} images: ${(err as Error).message}`,
    );
  }
  return task;
}

export function classificationTraining(options: ClassificationTrainingOptions): TaskTraining {
  const { spec, dataset, recipe, runStep, checkLoss } = options;
  const task = checkedNetwork(spec, dataset);
  const network = task.network;
  const dropRng =
    options.randomState === undefined
      ? Rng.fromSeed(deriveSeed(recipe.seed, 1))
      : Rng.fromState(options.randomState);
  const evalSplit =
    recipe.evalImages === 0 || recipe.evalImages >= dataset.test.size
      ? dataset.test
      : subset(dataset.test, { count: recipe.evalImages });
  const [inputHeight, inputWidth, channels] = dataset.imageShape;
  return {
    network: task,
    dataFingerprint: {
      uri: dataset.uri,
      imageShape: dataset.imageShape,
      classes: dataset.classNames.length,
      trainImages: dataset.train.size,
      testImages: dataset.test.size,
    },
    labels: dataset.classNames,
    preprocessing: { inputHeight, inputWidth, channels, mean: dataset.mean, std: dataset.std },
    randomState: () => dropRng.getState(),
    async trainEpoch(params: ParamMap, optimizer: Sgd, context: EpochContext): Promise<EpochTraining> {
      const { epoch, dropPath, signal, cancelled } = context;
      const drop = dropPath > 0 ? { prob: dropPath, random: () => dropRng.nextFloat() } : null;
      const { split, shuffleSeed } = epochImages(dataset.train, recipe, epoch);
      let loss = 0;
      let correct = 0;
      let images = 0;
      let stepMs = 0;
      for (const host of hostBatches(split, {
        batchSize: recipe.batchSize,
        shuffleSeed,
        // A last batch of one image would make batch norm's unbiased variance divide by zero.
        dropLast: split.size % recipe.batchSize === 1,
        augment: {
          seed: deriveSeed(recipe.seed, 3, epoch),
          padding: recipe.cropPadding,
          flip: recipe.horizontalFlip,
          cutout: recipe.cutout,
        },
      })) {
        await nextTick();
        checkAborted(signal, cancelled);
        const started = performance.now();
        const batch = toTensors(host);
        let stepLoss: number;
        try {
          const step = runStep(epoch, host.index, () =>
            trainStep(network, params, batch.images, batch.labels, optimizer, {
              dropPath: drop,
              auxiliaryWeight: recipe.auxiliaryWeight,
              labelSmoothing: recipe.labelSmoothing,
            }),
          );
          try {
            correct += countCorrect(step.logits, host.labels);
          } finally {
            step.logits.dispose();
          }
          stepLoss = step.loss;
        } finally {
          batch.images.dispose();
          batch.labels.dispose();
        }
        checkLoss(stepLoss, epoch, host.index);
        loss += stepLoss * host.size;
        images += host.size;
        stepMs += performance.now() - started;
      }
      return { loss: loss / images, accuracy: correct / images, images, stepMs };
    },
    async evaluate(params: ParamMap, context): Promise<TaskEvaluation> {
      const result = await evaluateNetwork(network, params, evalSplit, {
        batchSize: recipe.batchSize,
        signal: context.signal,
        onAbort: context.cancelled,
      });
      return {
        loss: result.loss,
        metrics: result.accuracy === null ? {} : { accuracy: result.accuracy },
        images: result.images,
      };
    },
  };
}
