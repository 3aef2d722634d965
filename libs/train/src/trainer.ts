// Training a network for its task (classification: RELATIVENAS.md section 7; detection: DENSE.md
// section 2): SGD with the recipe's schedule, the task's data pipeline and loss, evaluated after
// every epoch, checkpointed after every epoch and resumed from the last checkpoint to exactly the
// result an uninterrupted run gives. The trainer owns the epochs, the optimiser, checkpoints and
// reports; the task (libs/tasks) owns its data, its loss and its metrics.
//
// Every random number comes from the recipe's seed: initialisation from deriveSeed(seed, 0); the
// task's own draws (classification: drop path from deriveSeed(seed, 1), whose state the checkpoint
// carries; the epoch's data order and augmentation from deriveSeed(seed, 2 | 3, epoch)).
import { tf, type HostTensor } from '@rnas/engine';
import { deriveSeed, type Dataset, type RngState } from '@rnas/data';
import {
  disposeParams,
  exportParams,
  importParams,
  initParams,
  lossDiverged,
  Sgd,
  validateGenotype,
  type Genotype,
  type NetworkSpec,
  type ParamMap,
} from '@rnas/nas';
import type { ModelArtifact } from '@rnas/model';
import {
  taskTraining,
  type DetectionConfig,
  type KeypointConfig,
  type SegmentationConfig,
  type TaskModelSpec,
  type TaskTrainingOptions,
  type TaskName,
  type TaskNetwork,
  type TaskPreprocessing,
  type TaskTraining,
} from '@rnas/tasks';
import { firstDifference, readTrainingCheckpoint, writeTrainingCheckpoint } from './checkpoint';
import type { EpochReport } from './epoch-report';
import { describe, invalidArgument, TrainError, TrainingCancelledError } from './errors';
import { resolveRecipe, TASK_RECIPE_PRESETS, type Recipe, type RecipeInput } from './recipe';
import { epochSchedule } from './schedule';

/** The network to train; the genotype may come separately (from a search). */
export type TrainSpec = Omit<NetworkSpec, 'genotype'> & { readonly genotype?: Genotype };

export interface TrainOptions {
  readonly spec: TrainSpec;
  /** The cell; required unless `spec.genotype` is set (if both are, they must be equal). */
  readonly genotype?: Genotype;
  /** What to train the network for; default classification. */
  readonly task?: TaskName;
  /** Detection: the head and its priors (resolved). */
  readonly detection?: DetectionConfig;
  /** Segmentation: BiSeNet's input, augmentation and learning rates (resolved). */
  readonly segmentation?: SegmentationConfig;
  /** Keypoints: SimpleBaseline's crop and augmentation (resolved; the dataset adds its keypoints). */
  readonly keypoints?: KeypointConfig;
  /**
   * The task's dataset: labelled images for classification, boxes (VOC, COCO) for detection,
   * label maps (VOC, Cityscapes) for segmentation, person keypoints (COCO) for keypoints.
   */
  readonly dataset: TaskTrainingOptions['dataset'];
  /** Absent fields take the task's defaults (TASK_RECIPE_PRESETS: CIFAR's, SSDLite's, ...). */
  readonly recipe?: RecipeInput;
  /** Stops the training between two batches with a TrainingCancelledError. */
  readonly signal?: AbortSignal;
  /** Where the checkpoint lives; the training resumes from it when it exists. None: no checkpoints. */
  readonly checkpointDir?: string;
  /**
   * A fresh start only: after initialisation, before the first step; may replace entries of
   * `params` (a published backbone's weights), disposing what it replaces.
   */
  readonly initialWeights?: (params: ParamMap, network: TaskNetwork) => void | Promise<void>;
  /** After every epoch, once its checkpoint is on disk; awaited before the next epoch starts. */
  readonly onEpoch?: (report: EpochReport) => void | Promise<void>;
}

export interface TrainResult {
  /** The network (a dense task's backbone). */
  readonly spec: NetworkSpec;
  /** The task's network spec as trained, every config field resolved (keypoints: with the dataset's). */
  readonly task: TaskModelSpec;
  readonly recipe: Recipe;
  readonly history: readonly EpochReport[];
  /** The labels the model answers with, index order. */
  readonly labels: readonly string[];
  readonly preprocessing: TaskPreprocessing;
  /** The trained parameters and buffers, reference names and layouts. */
  readonly weights: Record<string, HostTensor>;
  /** Epochs that were already done in the checkpoint this run resumed from (0: a fresh start). */
  readonly resumedFromEpoch: number;
}

function datasetTrainSize(dataset: TaskTrainingOptions['dataset']): number {
  // Lists of images or people (the dense tasks) or a classification dataset's split.
  return Array.isArray(dataset.train) ? dataset.train.length : (dataset as Dataset).train.size;
}

/** What identifies a training; a checkpoint of another one is refused rather than continued. */
function fingerprint(task: TaskModelSpec, recipe: Recipe, data: unknown): unknown {
  // The spec alone for classification, as before tasks existed: their checkpoints still resume.
  const spec = task.task === 'classification' ? task.network : task;
  return JSON.parse(JSON.stringify({ spec, recipe, dataset: data })) as unknown;
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

function hostToParams(
  network: TaskNetwork,
  hosts: Readonly<Record<string, HostTensor>>,
  what: string,
): ParamMap {
  try {
    return importParams(network.params, hosts, what);
  } catch (err) {
    throw new TrainError('FAILED_PRECONDITION', (err as Error).message);
  }
}

/** Momentum buffers from a checkpoint, through the parameter import (layouts and shapes checked). */
function hostToMomentum(
  network: TaskNetwork,
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

function exportMomentum(network: TaskNetwork, sgd: Sgd): Record<string, HostTensor> {
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

/** The task's training, its construction errors as the trainer's (the field and the value). */
function startTaskTraining(
  task: TaskModelSpec,
  options: TrainOptions,
  recipe: Recipe,
  randomState: RngState | undefined,
): TaskTraining {
  try {
    return taskTraining({
      spec: task,
      dataset: options.dataset,
      recipe,
      randomState,
      runStep: (epoch, batch, step) => backendStep(recipe, epoch, batch, step),
      checkLoss: (loss, epoch, batch) => {
        if (lossDiverged(loss)) {
          throw new TrainError(
            'FAILED_PRECONDITION',
            `training diverged: loss ${loss} at epoch ${epoch + 1}, batch ${batch + 1}`,
          );
        }
      },
    });
  } catch (err) {
    if (err instanceof TrainError) throw err;
    throw new TrainError('INVALID_ARGUMENT', (err as Error).message);
  }
}

/**
 * Trains the spec's network for its task on the dataset with the recipe. Resumes from
 * `checkpointDir` when it holds a checkpoint of this same training (a checkpoint of another spec,
 * recipe or dataset is a FAILED_PRECONDITION error). Leaves no tensor behind, also when it fails
 * or is cancelled.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const name = options.task ?? 'classification';
  const recipe = resolveRecipe(options.recipe ?? {}, TASK_RECIPE_PRESETS[name]);
  const spec = resolveSpec(options.spec, options.genotype);
  // The task's own config only (a request's configs of other tasks are not part of it).
  const task: TaskModelSpec =
    name === 'classification'
      ? { task: name, network: spec }
      : { task: name, network: spec, [name]: options[name] };
  const { dataset, signal, checkpointDir, onEpoch } = options;
  if (datasetTrainSize(dataset) < 2) {
    throw new TrainError(
      'FAILED_PRECONDITION',
      `dataset ${describe(dataset.uri)}: fewer than 2 training images`,
    );
  }
  const checkpoint = checkpointDir === undefined ? null : await readTrainingCheckpoint(checkpointDir);
  const training = startTaskTraining(task, options, recipe, checkpoint?.rng);
  const network = training.network;
  const print = fingerprint(task, recipe, training.dataFingerprint);
  if (checkpoint !== null) {
    const diff = firstDifference(checkpoint.fingerprint, print);
    if (diff !== null) {
      throw new TrainError(
        'FAILED_PRECONDITION',
        `checkpoint in ${checkpointDir}: written for another training (${diff} differs)`,
      );
    }
  }
  const history: EpochReport[] = [...(checkpoint?.history ?? [])];
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
        ? await initialParams(training, recipe, options)
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
      const trained = await training.trainEpoch(params, sgd, {
        epoch,
        learningRate,
        dropPath,
        signal,
        cancelled,
      });
      const evaluation = await training.evaluate(params, { signal, cancelled });
      const durationMs = performance.now() - started;
      durations.push(durationMs);
      const meanMs = durations.reduce((a, b) => a + b, 0) / durations.length;
      const report: EpochReport = {
        epoch: epoch + 1,
        epochs: recipe.epochs,
        learningRate,
        dropPath,
        trainLoss: trained.loss,
        trainAccuracy: trained.accuracy ?? 0,
        trainImages: trained.images,
        evalLoss: evaluation.loss,
        evalAccuracy: evaluation.metrics.accuracy ?? null,
        evalImages: evaluation.images,
        evalMetrics: { ...evaluation.metrics },
        imagesPerSecond: trained.stepMs > 0 ? (trained.images * 1000) / trained.stepMs : 0,
        durationMs,
        etaMs: meanMs * (recipe.epochs - epoch - 1),
      };
      history.push(report);
      if (checkpointDir !== undefined) {
        await writeTrainingCheckpoint(checkpointDir, {
          fingerprint: print,
          epochsDone: epoch + 1,
          rng: training.randomState(),
          history,
          params: exportParams(network.params, params),
          momentum: exportMomentum(network, sgd),
        });
      }
      await onEpoch?.(report);
    }
    return {
      spec,
      task: network.spec,
      recipe,
      history,
      labels: training.labels,
      preprocessing: training.preprocessing,
      weights: exportParams(network.params, params),
      resumedFromEpoch: checkpoint?.epochsDone ?? 0,
    };
  } finally {
    sgd.dispose();
    if (owned !== null) disposeParams(owned);
  }
}

/** Fresh parameters: seeded initialisation, then the task's transfer (a published backbone). */
async function initialParams(
  training: TaskTraining,
  recipe: Recipe,
  options: TrainOptions,
): Promise<ParamMap> {
  const params = initParams(training.network.params, deriveSeed(recipe.seed, 0));
  try {
    await options.initialWeights?.(params, training.network);
    return params;
  } catch (err) {
    disposeParams(params);
    throw err;
  }
}

/** The artifact of a finished training: its network and task, the labels and the preprocessing. */
export function artifactFromTraining(result: TrainResult, dataset: { readonly uri: string }): ModelArtifact {
  const last = result.history[result.history.length - 1];
  const metrics = Object.entries(last?.evalMetrics ?? {}).map(([name, value]) => [
    name === 'accuracy' ? 'eval_accuracy' : `eval_${name}`,
    String(value),
  ]);
  // A classifier's artifact has no task file; a dense task's records its task and head config.
  const { network: _network, ...taskFields } = result.task;
  return {
    spec: result.spec,
    ...(result.task.task === 'classification' ? {} : taskFields),
    preprocessing: {
      ...result.preprocessing,
      mean: [...result.preprocessing.mean],
      std: [...result.preprocessing.std],
    },
    labels: [...result.labels],
    weights: result.weights,
    metadata: {
      dataset: dataset.uri,
      epochs: String(result.recipe.epochs),
      recipe: JSON.stringify(result.recipe),
      ...Object.fromEntries(metrics),
    },
  };
}
