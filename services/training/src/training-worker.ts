// Entry point of a training's worker thread (compiled to dist/training-worker.js and started by
// the service): its own engine instance, the dataset, the trainer (resumed from the checkpoint in
// the training's directory when there is one), then the model published to the repository.
// A damaged checkpoint is left for the trainer to report: it names the file and the problem.
// Cancellation takes effect between two batches and always before publishing.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { initBackend, tf } from '@rnas/engine';
import {
  checkSegmentationLabels,
  openDataset,
  openDetectionDataset,
  openKeypointDataset,
  openSegmentationDataset,
  type Dataset,
} from '@rnas/data';
import { importBackboneParams, replaceParams, type BackboneTarget } from '@rnas/tasks';
import { writeFileAtomic } from '@rnas/fs';
import { serveWorkerTask } from '@rnas/jobs';
import { workerMemory } from '@rnas/workers';
import type { NetworkSpec } from '@rnas/nas';
import { loadPublishedModel, publishModel, type PublishedModel } from '@rnas/model';
import {
  artifactFromTraining,
  readTrainingCheckpoint,
  train,
  TrainError,
  TrainingCancelledError,
  type TrainOptions,
} from '@rnas/train';
import { denseInputSize } from './training-request';
import type { TrainingWorkerEvent, TrainingWorkerInput, TrainingWorkerResult } from './worker-messages';

/** Where a training's datasets may be read from, and the largest file it reads. */
interface DatasetOptions {
  dataRoots: readonly string[];
  maxFileBytes: number | undefined;
}

/** The dense tasks' dataset openers; each dataset's class count is what the head predicts. */
const DENSE_DATASETS = {
  detection: async (uri: string, options: DatasetOptions) => {
    const dataset = await openDetectionDataset(uri, options);
    return { dataset, classes: dataset.classNames.length };
  },
  segmentation: async (uri: string, options: DatasetOptions) => {
    const dataset = await openSegmentationDataset(uri, options);
    // Label values are in the masks' pixels: read them all now, not an epoch into the training.
    await checkSegmentationLabels(dataset);
    return { dataset, classes: dataset.classNames.length };
  },
  keypoints: async (uri: string, options: DatasetOptions) => {
    const dataset = await openKeypointDataset(uri, options);
    return { dataset, classes: dataset.keypointNames.length };
  },
};

/**
 * The task's dataset and the network with every size it decides: the classes (a detector's
 * object classes, a segmenter's labels, the keypoints), the input channels and size (a dense
 * task's come from its config).
 */
async function openTaskDataset(
  input: TrainingWorkerInput,
): Promise<{ dataset: TrainOptions['dataset']; spec: NetworkSpec; inputSize: number }> {
  const requested = input.spec;
  const network = (classes: number, inChannels: number): NetworkSpec => ({
    variant: requested.variant,
    genotype: input.genotype,
    channels: requested.channels,
    layers: requested.layers,
    classes: requested.classes === 0 ? classes : requested.classes,
    inChannels: requested.inChannels === 0 ? inChannels : requested.inChannels,
    auxiliary: requested.auxiliary,
  });
  const datasetOptions = { dataRoots: input.dataRoots, maxFileBytes: input.maxDatasetFileBytes };
  if (input.task !== 'classification') {
    const { dataset, classes } = await DENSE_DATASETS[input.task](input.datasetUri, datasetOptions);
    const inputSize = denseInputSize(input.task, input.configs).height;
    return { dataset, spec: network(classes, 3), inputSize };
  }
  const dataset: Dataset = await openDataset(input.datasetUri, datasetOptions);
  const [height, width, channels] = dataset.imageShape;
  if (requested.inputSize !== 0 && (requested.inputSize !== height || requested.inputSize !== width)) {
    throw new TrainError(
      'INVALID_ARGUMENT',
      `spec.input_size: expected the dataset's ${height}x${width} images, got ${requested.inputSize}`,
    );
  }
  return { dataset, spec: network(dataset.classNames.length, channels), inputSize: height };
}

/**
 * A dense task's transfer: the named classification model's backbone weights replace the fresh
 * backbone's (DENSE.md section 1: the reference loads them strictly, classifier dropped). A model
 * that is missing, of another task or of another backbone is FAILED_PRECONDITION naming the field.
 */
function backboneWeights(input: TrainingWorkerInput): TrainOptions['initialWeights'] {
  if (input.task === 'classification') return undefined;
  const ref = input.configs[input.task]?.backboneModel ?? '';
  if (ref === '') return undefined;
  const [name, version] = ref.split(':');
  const field = `${input.task}.backbone_model ${JSON.stringify(ref)}`;
  return async (params, network) => {
    let artifact;
    try {
      artifact = await loadPublishedModel(
        input.modelRepo,
        name,
        version === undefined ? undefined : Number(version),
      );
    } catch (err) {
      throw new TrainError('FAILED_PRECONDITION', `${field}: ${(err as Error).message}`);
    }
    if ((artifact.task ?? 'classification') !== 'classification') {
      throw new TrainError(
        'FAILED_PRECONDITION',
        `${field}: a ${artifact.task} model, expected a classifier`,
      );
    }
    let imported;
    try {
      imported = importBackboneParams(network as unknown as BackboneTarget, artifact, field);
    } catch (err) {
      throw new TrainError('FAILED_PRECONDITION', (err as Error).message);
    }
    replaceParams(params, imported);
  };
}

/** Written once the model is published, so that a restart does not publish it a second time. */
export const PUBLISHED_MARKER = 'published.json';

serveWorkerTask<TrainingWorkerInput, TrainingWorkerEvent, TrainingWorkerResult>(
  async (input, { signal, emit }) => {
    const marker = path.join(input.directory, PUBLISHED_MARKER);
    if (existsSync(marker)) {
      return { model: JSON.parse(await readFile(marker, 'utf8')) as PublishedModel };
    }
    const backend = await initBackend(input.backend);
    const { dataset, spec, inputSize } = await openTaskDataset(input);
    emit({ type: 'start', spec, inputSize, backend: backend.name });
    const checkpointDir = path.join(input.directory, 'checkpoint');
    await mkdir(checkpointDir, { recursive: true });
    // A kill can land between an epoch's checkpoint and the service storing its report: the
    // trainer resumes after that epoch and would never report it again.
    const checkpoint = await readTrainingCheckpoint(checkpointDir).catch(() => null);
    for (const report of checkpoint?.history.slice(input.epochsStored) ?? []) {
      emit({ type: 'epoch', report, memory: workerMemory(tf.memory()) });
    }
    const result = await train({
      spec,
      task: input.task,
      ...input.configs,
      initialWeights: backboneWeights(input),
      dataset,
      recipe: input.recipe,
      signal,
      checkpointDir,
      onEpoch: (report) => emit({ type: 'epoch', report, memory: workerMemory(tf.memory()) }),
    });
    if (signal.aborted) throw new TrainingCancelledError(input.recipe.epochs);
    const artifact = artifactFromTraining(result, dataset);
    // Keyed by the job: a crash after publishing but before the marker is written finds this
    // version on the rerun instead of publishing a second one.
    const model = await publishModel(
      input.modelRepo,
      input.modelName,
      { ...artifact, metadata: { ...artifact.metadata, training_id: input.trainingId } },
      { publicationKey: input.trainingId },
    );
    await writeFileAtomic(marker, JSON.stringify(model));
    return { model };
  },
);
