// Entry point of a search's worker thread (compiled to dist/search-worker.js and started by the
// service): its own engine instance, the dataset, and the search (libs/nas' searchFromDataset:
// the evaluator in this thread or a pool of threads of its own), resumed from the checkpoint in
// the artefacts directory when there is one. Cancellation takes effect between two pairs.
import { initBackend, tf } from '@rnas/engine';
import { openDataset } from '@rnas/data';
import { PeerCredentials } from '@rnas/grpc';
import { serveWorkerTask } from '@rnas/jobs';
import { workerMemory } from '@rnas/workers';
import { resolveSearchConfig, searchFromDataset } from '@rnas/nas';
import { RemoteEvaluator } from './remote-evaluator';
import type { SearchWorkerEvent, SearchWorkerInput, SearchWorkerResult } from './worker-messages';

serveWorkerTask<SearchWorkerInput, SearchWorkerEvent, SearchWorkerResult>(async (input, { signal, emit }) => {
  const backend = await initBackend(input.backend);
  const config = resolveSearchConfig(input.config);
  const dataset = await openDataset(input.datasetUri, {
    dataRoots: input.dataRoots,
    maxFileBytes: input.maxDatasetFileBytes,
  });
  const remote = input.evaluators === 'local' ? undefined : input.evaluators;
  // Read here, in the search's thread: a file that changed since the service started is re-read on use.
  const peer =
    remote === undefined
      ? undefined
      : new PeerCredentials(input.peer, (problem) => emit({ type: 'log', message: problem }));
  const result = await searchFromDataset({
    config,
    dataset,
    workers: input.workers,
    backend: backend.name,
    startEvaluator:
      remote === undefined
        ? undefined
        : (setup) =>
            RemoteEvaluator.start({
              targets: remote,
              setup: { ...setup, datasetUri: input.datasetUri, config },
              searchId: input.searchId,
              maxMessageBytes: input.maxMessageBytes,
              deadlineMs: input.evaluatorDeadlineMs,
              peer,
              onStats: (stats) => emit({ type: 'evaluator', ...stats }),
              onRetry: (message) => emit({ type: 'log', message }),
            }),
    outDir: input.outDir,
    resume: true,
    signal,
    onEvent: (event) => {
      switch (event.type) {
        case 'start':
          emit({
            type: 'start',
            backend: backend.name,
            generationsDone: event.generationsDone,
            resumed: event.resumed,
            pairsPerGeneration: event.pairsPerGeneration,
          });
          return;
        case 'pair':
        case 'generation':
          emit({ ...event, memory: workerMemory(tf.memory()) });
          return;
        case 'done':
          return;
      }
    },
  });
  return { best: result.best, bestSoFar: result.bestSoFar };
});
