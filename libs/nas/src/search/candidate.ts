// The low-fidelity evaluation of one candidate (RELATIVENAS.md section 6, step 2): load its
// tensors from the weight set, train one pass over its share of the search-training split with a
// fresh SGD, then measure loss and accuracy on the search-validation images. Runs the same in the
// main thread and in an evaluator worker: every number it draws comes from the seeds in the job.
// By default the validation images carry the training augmentation, drawn from the member's own
// seed, as in the reference (its two loaders share one dataset object); `valAugmentSeed: null`
// validates on the plain images. A job may also only validate (the final re-evaluation).
import { tf, type Tensor2D } from '@rnas/engine';
import { deriveSeed, hostBatches, Rng, takeIndices, toTensors, type Split } from '@rnas/data';
import type { Genotype } from '../genotype';
import { softmaxCrossEntropy } from '../loss';
import { disposeParams, exportParams, importParams, type ParamMap } from '../params';
import { Sgd } from '../sgd';
import { trainStep } from '../train-step';
import { TrainableSearchNetwork, type SearchNetworkConfig } from './search-network';
import type { HostParams } from './weight-set';

/** The two halves of the training data a search uses. */
export interface SearchData {
  /** Search-training split: candidates train on it. */
  train: Split;
  /** Search-validation split: pairs are compared on it. */
  val: Split;
}

/** What stays fixed for every candidate of a search. */
export interface TrainingRecipe {
  batchSize: number;
  momentum: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 disables it. */
  gradClip: number;
  /** Cutout side; 0 disables it. Random crop (padding 4) and flip are always on, as in DARTS. */
  cutout: number;
}

/** One candidate's evaluation, complete: a worker needs nothing else (besides the data). */
export interface CandidateJob {
  network: SearchNetworkConfig;
  recipe: TrainingRecipe;
  genotype: Genotype;
  /** Its network's tensors from the weight set, reference names and layouts. */
  params: HostParams;
  lr: number;
  dropPath: number;
  /** Search-training images to train on, in the order visited. */
  trainIndices: Int32Array;
  /** Search-validation images to measure on. */
  valIndices: Int32Array;
  /** Seeds the training augmentation (each member its own, unless the search pairs the data). */
  augmentSeed: number;
  /** Seeds the augmentation of the validation images; null: plain validation images. */
  valAugmentSeed: number | null;
  /** Only measure on the validation images, without training (the final re-evaluation). */
  validateOnly?: boolean;
  /** Seeds the drop-path draws of this candidate. */
  dropPathSeed: number;
}

export interface CandidateMetrics {
  /** Mean training loss over the pass (training mode, augmented images). */
  trainLoss: number;
  trainAccuracy: number;
  /** Mean loss on the validation images (inference mode): lower wins the comparison. */
  valLoss: number;
  valAccuracy: number;
  trainImages: number;
  valImages: number;
  /** Wall time of the evaluation; the only field that differs between identical runs. */
  seconds: number;
}

export interface CandidateResult extends CandidateMetrics {
  /** The tensors after training, reference names and layouts. */
  params: HostParams;
}

function countCorrect(logits: Tensor2D, labels: Int32Array): number {
  const predicted = tf.tidy(() => tf.argMax(logits, 1).dataSync());
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct;
}

/** Trains and validates one candidate; leaves no tensor behind. */
export function evaluateCandidate(job: CandidateJob, data: SearchData): CandidateResult {
  const started = performance.now();
  const network = new TrainableSearchNetwork(job.network, job.genotype);
  const { recipe } = job;
  const trains = job.validateOnly !== true;
  if (trains && job.trainIndices.length === 0) throw new Error('candidate: no training images');
  if (job.valIndices.length === 0) throw new Error('candidate: no validation images');
  const params: ParamMap = importParams(network.allParams, job.params, 'candidate');
  const sgd = new Sgd({
    lr: job.lr,
    momentum: recipe.momentum,
    weightDecay: recipe.weightDecay,
    gradClip: recipe.gradClip > 0 ? recipe.gradClip : null,
  });
  try {
    const dropRng = Rng.fromSeed(job.dropPathSeed);
    const dropPath = job.dropPath > 0 ? { prob: job.dropPath, random: () => dropRng.nextFloat() } : null;
    let trainLoss = 0;
    let trainCorrect = 0;
    const trainSplit = takeIndices(data.train, trains ? job.trainIndices : new Int32Array(0));
    for (const host of hostBatches(trainSplit, {
      batchSize: recipe.batchSize,
      augment: { seed: job.augmentSeed, cutout: recipe.cutout },
    })) {
      const batch = toTensors(host);
      try {
        const step = trainStep(network, params, batch.images, batch.labels, sgd, { dropPath });
        trainLoss += step.loss * host.size;
        trainCorrect += countCorrect(step.logits, host.labels);
        step.logits.dispose();
      } finally {
        batch.images.dispose();
        batch.labels.dispose();
      }
    }

    let valLoss = 0;
    let valCorrect = 0;
    const valSplit = takeIndices(data.val, job.valIndices);
    const valAugment =
      job.valAugmentSeed === null ? undefined : { seed: job.valAugmentSeed, cutout: recipe.cutout };
    for (const host of hostBatches(valSplit, { batchSize: recipe.batchSize, augment: valAugment })) {
      const batch = toTensors(host);
      try {
        const { logits } = network.forward(params, batch.images);
        valLoss += tf.tidy(() => softmaxCrossEntropy(logits, batch.labels).dataSync()[0]) * host.size;
        valCorrect += countCorrect(logits, host.labels);
        logits.dispose();
      } finally {
        batch.images.dispose();
        batch.labels.dispose();
      }
    }
    const trainImages = trains ? job.trainIndices.length : 0;
    const valImages = job.valIndices.length;
    return {
      params: trains ? exportParams(network.allParams, params) : {},
      trainLoss: trains ? trainLoss / trainImages : NaN,
      trainAccuracy: trains ? trainCorrect / trainImages : NaN,
      valLoss: valLoss / valImages,
      valAccuracy: valCorrect / valImages,
      trainImages,
      valImages,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    sgd.dispose();
    disposeParams(params);
  }
}

/** The per-member seeds of one comparison: [first member, second member]. */
export interface PairSeeds {
  /** Which search-training images each member trains on, and in which order. */
  order: [number, number];
  augment: [number, number];
  valAugment: [number, number];
  dropPath: [number, number];
}

/**
 * Seeds of one comparison, all derived from one number the search draws per pair. Each member
 * draws its own images, order and augmentations (the reference); with `paired`, both members share
 * them (common random numbers). Drop path is drawn per member either way.
 */
export function pairSeeds(pairSeed: number, paired = false): PairSeeds {
  const both = (stream: number): [number, number] =>
    paired
      ? [deriveSeed(pairSeed, stream), deriveSeed(pairSeed, stream)]
      : [deriveSeed(pairSeed, stream), deriveSeed(pairSeed, stream + 10)];
  return {
    order: both(0),
    augment: both(1),
    valAugment: both(4),
    dropPath: [deriveSeed(pairSeed, 2), deriveSeed(pairSeed, 3)],
  };
}
