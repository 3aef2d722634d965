// Training a discovered cell from scratch with the evaluation recipe (RELATIVENAS.md section 7):
// the network of a spec, SGD with the recipe's schedule, augmentation, auxiliary loss and drop
// path, evaluated on the test split after every epoch, checkpointed after every epoch and resumed
// from the last checkpoint to exactly the result an uninterrupted run gives.
//
// Every random number comes from the recipe's seed: initialisation from deriveSeed(seed, 0), the
// drop-path draws from one generator seeded by deriveSeed(seed, 1) whose state the checkpoint
// carries, and the epoch's data order and augmentation from deriveSeed(seed, 2 | 3, epoch).
import { tf, type HostTensor } from '@rnas/engine';
import {
  deriveSeed,
  hostBatches,
  Rng,
  subset,
  takeIndices,
  toTensors,
  type Dataset,
  type Split,
} from '@rnas/data';
import {
  disposeParams,
  exportParams,
  importParams,
  initParams,
  Network,
  Sgd,
  trainStep,
  validateGenotype,
  type Genotype,
  type NetworkSpec,
  type ParamMap,
} from '@rnas/nas';
import type { ModelArtifact } from '@rnas/model';
import { firstDifference, readTrainingCheckpoint, writeTrainingCheckpoint } from './checkpoint';
import type { EpochReport } from './epoch-report';
import { describe, invalidArgument, TrainError, TrainingCancelledError } from './errors';
import { checkAborted, countCorrect, evaluateNetwork, nextTick } from './evaluate';
import { resolveRecipe, type Recipe, type RecipeInput } from './recipe';
import { epochSchedule } from './schedule';

/** The network to train; the genotype may come separately (from a search). */
export type TrainSpec = Omit<NetworkSpec, 'genotype'> & { readonly genotype?: Genotype };

export interface TrainOptions {
  readonly spec: TrainSpec;
  /** The cell; required unless `spec.genotype` is set (if both are, they must be equal). */
  readonly genotype?: Genotype;
  readonly dataset: Dataset;
  /** Absent fields take section 7's CIFAR defaults. */
  readonly recipe?: RecipeInput;
  /** Stops the training between two batches with a TrainingCancelledError. */
  readonly signal?: AbortSignal;
  /** Where the checkpoint lives; the training resumes from it when it exists. None: no checkpoints. */
  readonly checkpointDir?: string;
  /** After every epoch, once its checkpoint is on disk; awaited before the next epoch starts. */
  readonly onEpoch?: (report: EpochReport) => void | Promise<void>;
}

export interface TrainResult {
  readonly spec: NetworkSpec;
  readonly recipe: Recipe;
  readonly history: readonly EpochReport[];
  /** The trained parameters and buffers, reference names and layouts. */
  readonly weights: Record<string, HostTensor>;
  /** Epochs that were already done in the checkpoint this run resumed from (0: a fresh start). */
  readonly resumedFromEpoch: number;
}

/** What identifies a training; a checkpoint of another one is refused rather than continued. */
function fingerprint(spec: NetworkSpec, recipe: Recipe, dataset: Dataset): unknown {
  return JSON.parse(
    JSON.stringify({
      spec,
      recipe,
      dataset: {
        uri: dataset.uri,
        imageShape: dataset.imageShape,
        classes: dataset.classNames.length,
        trainImages: dataset.train.size,
        testImages: dataset.test.size,
      },
    }),
  ) as unknown;
}

function resolveSpec(spec: TrainSpec, genotype: Genotype | undefined): NetworkSpec {
  if (spec === null || typeof spec !== 'object') throw invalidArgument('spec', spec, 'a network spec');
  const cell = genotype ?? spec.genotype;
  if (cell === undefined)
    throw new TrainError('INVALID_ARGUMENT', 'genotype: missing (give genotype or spec.genotype)');
  try {
    validateGenotype(cell, 'genotype');
  } catch (err) {
    throw new TrainError('INVALID_ARGUMENT', (err as Error).message);
  }
  if (genotype !== undefined && spec.genotype !== undefined) {
    const diff = firstDifference(
      JSON.parse(JSON.stringify(genotype)),
      JSON.parse(JSON.stringify(spec.genotype)),
    );
    if (diff !== null) {
      throw new TrainError('INVALID_ARGUMENT', `spec.genotype: differs from genotype (at ${diff})`);
    }
  }
  return { ...spec, genotype: cell };
}

/** The network of the spec, checked against the dataset's images and classes. */
function buildNetwork(spec: NetworkSpec, dataset: Dataset): Network {
  let network: Network;
  try {
    network = new Network(spec);
  } catch (err) {
    throw new TrainError('INVALID_ARGUMENT', (err as Error).message);
  }
  const [h, w, c] = dataset.imageShape;
  if (spec.inChannels !== c) {
    throw invalidArgument('spec.inChannels', spec.inChannels, `the dataset's ${c} image channels`);
  }
  if (spec.classes !== dataset.classNames.length) {
    throw invalidArgument('spec.classes', spec.classes, `the dataset's ${dataset.classNames.length} classes`);
  }
  try {
    network.trace(h, w);
  } catch (err) {
    throw new TrainError(
      'INVALID_ARGUMENT',
      `spec: the network cannot take the dataset's ${h}x${w} images: ${(err as Error).message}`,
    );
  }
  return network;
}

/** The images of one epoch: the whole training split, or a fresh random draw of `trainImages`. */
function epochImages(train: Split, recipe: Recipe, epoch: number): { split: Split; shuffleSeed?: number } {
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

function hostToParams(network: Network, hosts: Readonly<Record<string, HostTensor>>, what: string): ParamMap {
  try {
    return importParams(network.params, hosts, what);
  } catch (err) {
    throw new TrainError('FAILED_PRECONDITION', (err as Error).message);
  }
}

/** Momentum buffers from a checkpoint, through the parameter import (layouts and shapes checked). */
function hostToMomentum(
  network: Network,
  hosts: Readonly<Record<string, HostTensor>>,
  what: string,
): ParamMap {
  const infos = network.params.filter((p) => p.kind === 'weight' && hosts[p.name] !== undefined);
  try {
    return importParams(infos, hosts, what);
  } catch (err) {
    throw new TrainError('FAILED_PRECONDITION', (err as Error).message);
  }
}

function exportMomentum(network: Network, sgd: Sgd): Record<string, HostTensor> {
  const buffers = sgd.momentumBuffers();
  return exportParams(
    network.params.filter((p) => buffers.has(p.name)),
    buffers,
  );
}

/**
 * Runs one step; a WebAssembly runtime error (what the wasm backend throws when its 32-bit heap is
 * exhausted: `Aborted()` or `memory access out of bounds`, e.g. the section 7 network at batch
 * 96) becomes a RESOURCE_EXHAUSTED error that says what to change.
 */
export function backendStep<T>(recipe: Recipe, epoch: number, batch: number, step: () => T): T {
  try {
    return step();
  } catch (err) {
    // By name rather than `instanceof WebAssembly.RuntimeError`, which differs between realms.
    if (err instanceof Error && err.name === 'RuntimeError') {
      throw new TrainError(
        'RESOURCE_EXHAUSTED',
        `the ${tf.getBackend()} backend failed at epoch ${epoch + 1}, batch ${batch + 1} with ` +
          `"${err.message}", most likely out of memory at batchSize ${recipe.batchSize}: use a smaller batch ` +
          `or a native backend; this process's backend may be unusable now`,
      );
    }
    throw err;
  }
}

/**
 * Trains the spec's network on the dataset with the recipe. Resumes from `checkpointDir` when it
 * holds a checkpoint of this same training (a checkpoint of another spec, recipe or dataset is a
 * FAILED_PRECONDITION error). Leaves no tensor behind, also when it fails or is cancelled.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const recipe = resolveRecipe(options.recipe ?? {});
  const spec = resolveSpec(options.spec, options.genotype);
  const { dataset, signal, checkpointDir, onEpoch } = options;
  if (dataset.train.size < 2) {
    throw new TrainError(
      'FAILED_PRECONDITION',
      `dataset ${describe(dataset.uri)}: fewer than 2 training images`,
    );
  }
  const network = buildNetwork(spec, dataset);
  const print = fingerprint(spec, recipe, dataset);
  const checkpoint = checkpointDir === undefined ? null : await readTrainingCheckpoint(checkpointDir);
  if (checkpoint !== null) {
    const diff = firstDifference(checkpoint.fingerprint, print);
    if (diff !== null) {
      throw new TrainError(
        'FAILED_PRECONDITION',
        `checkpoint in ${checkpointDir}: written for another training (${diff} differs)`,
      );
    }
  }
  const evalSplit =
    recipe.evalImages === 0 || recipe.evalImages >= dataset.test.size
      ? dataset.test
      : subset(dataset.test, { count: recipe.evalImages });
  const history: EpochReport[] = [...(checkpoint?.history ?? [])];
  const dropRng =
    checkpoint === null ? Rng.fromSeed(deriveSeed(recipe.seed, 1)) : Rng.fromState(checkpoint.rng);
  const sgd = new Sgd({
    lr: recipe.learningRate,
    momentum: recipe.momentum,
    weightDecay: recipe.weightDecay,
    gradClip: recipe.gradClip > 0 ? recipe.gradClip : null,
  });
  let owned: ParamMap | null = null;
  try {
    owned =
      checkpoint === null
        ? initParams(network.params, deriveSeed(recipe.seed, 0))
        : hostToParams(network, checkpoint.params, `checkpoint in ${checkpointDir}: params`);
    const params: ParamMap = owned;
    if (checkpoint !== null) {
      const momentum = hostToMomentum(
        network,
        checkpoint.momentum,
        `checkpoint in ${checkpointDir}: momentum`,
      );
      try {
        sgd.loadMomentumBuffers(momentum, params);
      } catch (err) {
        disposeParams(momentum);
        throw new TrainError('FAILED_PRECONDITION', (err as Error).message);
      }
    }
    const durations: number[] = [];
    for (let epoch = history.length; epoch < recipe.epochs; epoch++) {
      const started = performance.now();
      const cancelled = (): Error => new TrainingCancelledError(epoch + 1);
      const { learningRate, dropPath } = epochSchedule(recipe, epoch);
      sgd.lr = learningRate;
      const drop = dropPath > 0 ? { prob: dropPath, random: () => dropRng.nextFloat() } : null;
      const { split, shuffleSeed } = epochImages(dataset.train, recipe, epoch);
      let loss = 0;
      let correct = 0;
      let images = 0;
      let trainMs = 0;
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
        const stepStarted = performance.now();
        const batch = toTensors(host);
        try {
          const step = backendStep(recipe, epoch, host.index, () =>
            trainStep(network, params, batch.images, batch.labels, sgd, {
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
          if (!Number.isFinite(step.loss)) {
            throw new TrainError(
              'FAILED_PRECONDITION',
              `training diverged: loss ${step.loss} at epoch ${epoch + 1}, batch ${host.index + 1}`,
            );
          }
          loss += step.loss * host.size;
          images += host.size;
        } finally {
          batch.images.dispose();
          batch.labels.dispose();
        }
        trainMs += performance.now() - stepStarted;
      }
      const evaluation = await evaluateNetwork(network, params, evalSplit, {
        batchSize: recipe.batchSize,
        signal,
        onAbort: cancelled,
      });
      const durationMs = performance.now() - started;
      durations.push(durationMs);
      const meanMs = durations.reduce((a, b) => a + b, 0) / durations.length;
      const report: EpochReport = {
        epoch: epoch + 1,
        epochs: recipe.epochs,
        learningRate,
        dropPath,
        trainLoss: loss / images,
        trainAccuracy: correct / images,
        trainImages: images,
        evalLoss: evaluation.loss,
        evalAccuracy: evaluation.accuracy,
        evalImages: evaluation.images,
        imagesPerSecond: trainMs > 0 ? (images * 1000) / trainMs : 0,
        durationMs,
        etaMs: meanMs * (recipe.epochs - epoch - 1),
      };
      history.push(report);
      if (checkpointDir !== undefined) {
        await writeTrainingCheckpoint(checkpointDir, {
          fingerprint: print,
          epochsDone: epoch + 1,
          rng: dropRng.getState(),
          history,
          params: exportParams(network.params, params),
          momentum: exportMomentum(network, sgd),
        });
      }
      await onEpoch?.(report);
    }
    return {
      spec,
      recipe,
      history,
      weights: exportParams(network.params, params),
      resumedFromEpoch: checkpoint?.epochsDone ?? 0,
    };
  } finally {
    sgd.dispose();
    if (owned !== null) disposeParams(owned);
  }
}

/** The artifact of a finished training: its network, the dataset's classes and normalisation. */
export function artifactFromTraining(result: TrainResult, dataset: Dataset): ModelArtifact {
  const [inputHeight, inputWidth, channels] = dataset.imageShape;
  const last = result.history[result.history.length - 1];
  return {
    spec: result.spec,
    preprocessing: { inputHeight, inputWidth, channels, mean: [...dataset.mean], std: [...dataset.std] },
    labels: [...dataset.classNames],
    weights: result.weights,
    metadata: {
      dataset: dataset.uri,
      epochs: String(result.recipe.epochs),
      recipe: JSON.stringify(result.recipe),
      ...(last?.evalAccuracy !== null && last !== undefined
        ? { eval_accuracy: String(last.evalAccuracy) }
        : {}),
    },
  };
}
