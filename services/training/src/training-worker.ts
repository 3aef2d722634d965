// Entry point of a training's worker thread (compiled to dist/training-worker.js and started by
// the service): its own engine instance, the dataset, the trainer (resumed from the checkpoint in
// the training's directory when there is one), then the model published to the repository.
// A damaged checkpoint is left for the trainer to report: it names the file and the problem.
// Cancellation takes effect between two batches and always before publishing.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { initBackend, tf } from '@rnas/engine';
import { openDataset } from '@rnas/data';
import { writeFileAtomic } from '@rnas/fs';
import { serveWorkerTask } from '@rnas/jobs';
import { workerMemory } from '@rnas/workers';
import type { NetworkSpec } from '@rnas/nas';
import { publishModel, type PublishedModel } from '@rnas/model';
import {
  artifactFromTraining,
  readTrainingCheckpoint,
  train,
  TrainError,
  TrainingCancelledError,
} from '@rnas/train';
import type { TrainingWorkerEvent, TrainingWorkerInput, TrainingWorkerResult } from './worker-messages';

/** Written once the model is published, so that a restart does not publish it a second time. */
export const PUBLISHED_MARKER = 'published.json';

serveWorkerTask<TrainingWorkerInput, TrainingWorkerEvent, TrainingWorkerResult>(
  async (input, { signal, emit }) => {
    const marker = path.join(input.directory, PUBLISHED_MARKER);
    if (existsSync(marker)) {
      return { model: JSON.parse(await readFile(marker, 'utf8')) as PublishedModel };
    }
    const backend = await initBackend(input.backend);
    const dataset = await openDataset(input.datasetUri, { dataRoots: input.dataRoots });
    const [height, width, channels] = dataset.imageShape;
    const requested = input.spec;
    if (requested.inputSize !== 0 && (requested.inputSize !== height || requested.inputSize !== width)) {
      throw new TrainError(
        'INVALID_ARGUMENT',
        `spec.input_size: expected the dataset's ${height}x${width} images, got ${requested.inputSize}`,
      );
    }
    const spec: NetworkSpec = {
      variant: requested.variant,
      genotype: input.genotype,
      channels: requested.channels,
      layers: requested.layers,
      classes: requested.classes === 0 ? dataset.classNames.length : requested.classes,
      inChannels: requested.inChannels === 0 ? channels : requested.inChannels,
      auxiliary: requested.auxiliary,
    };
    emit({ type: 'start', spec, inputSize: height, backend: backend.name });
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
