// Entry point of a search's worker thread (compiled to dist/search-worker.js and started by the
// service): its own engine instance, the dataset, an evaluator (in this thread, or a pool of
// threads of its own), and the search loop, resumed from the checkpoint in the artefacts
// directory when there is one. Cancellation takes effect between two pairs.
import { initBackend, tf } from '@rnas/engine';
import { openDataset } from '@rnas/data';
import { serveWorkerTask } from '@rnas/jobs';
import { workerMemory } from '@rnas/workers';
import {
  evaluatorSetup,
  InProcessEvaluator,
  resolveSearchConfig,
  runSearch,
  searchSplits,
  WorkerPoolEvaluator,
  type Evaluator,
} from '@rnas/nas';
import type { SearchWorkerEvent, SearchWorkerInput, SearchWorkerResult } from './worker-messages';

serveWorkerTask<SearchWorkerInput, SearchWorkerEvent, SearchWorkerResult>(async (input, { signal, emit }) => {
  const backend = await initBackend(input.backend);
  const config = resolveSearchConfig(input.config);
  const dataset = await openDataset(input.datasetUri, { dataRoots: input.dataRoots });
  const data = searchSplits(dataset.train, config);
  const setup = evaluatorSetup(config, data);
  const evaluator: Evaluator =
    input.workers <= 1
      ? new InProcessEvaluator(setup)
      : await WorkerPoolEvaluator.start(setup, { workers: input.workers, backend: backend.name });
  try {
    const result = await runSearch({
      config,
      data,
      dataSource: dataset.uri,
      evaluator,
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
            emit({
              type: 'pair',
              generation: event.generation,
              pairsDone: event.pairsDone,
              pairs: event.pairs,
              record: event.record,
              candidates: event.candidates,
              memory: workerMemory(tf.memory()),
            });
            return;
          case 'generation':
            emit({ type: 'generation', record: event.record, memory: workerMemory(tf.memory()) });
            return;
          case 'done':
            return;
        }
      },
    });
    return { best: result.best, bestSoFar: result.bestSoFar };
  } finally {
    await evaluator.close();
  }
});
