// A search on an opened dataset, assembled one way for every entry point (`rnas search` and the
// search service's worker thread): the dataset's training split cut into the search splits, the
// evaluator (in this thread, or a pool of worker threads), the search loop, and the evaluator
// closed however the search ends.
import type { BackendName } from '@rnas/engine';
import type { Dataset } from '@rnas/data';
import type { SearchData } from './candidate';
import { InProcessEvaluator, type Evaluator, type EvaluatorSetup } from './evaluator';
import { evaluatorSetup, runSearch, searchSplits, type SearchEvent, type SearchResult } from './search';
import type { SearchConfig } from './search-config';
import { WorkerPoolEvaluator } from './worker-pool';

export interface SearchFromDatasetOptions {
  /** A resolved configuration (resolveSearchConfig). */
  config: SearchConfig;
  dataset: Dataset;
  /** Evaluator threads: 1 evaluates in this thread, more start a pool of worker threads. */
  workers: number;
  /** Engine backend of the pool's threads: the one this thread initialised. */
  backend: BackendName;
  /** The search's directory (checkpoint, history, cells, genotype); without it nothing is written. */
  outDir?: string;
  /** Continue from the checkpoint in `outDir` when there is one. */
  resume?: boolean;
  /** Stops the search between pairs; the last checkpoint stays. */
  signal?: AbortSignal;
  onEvent?: (event: SearchEvent) => void;
  /** Starts the evaluator instead of threads (e.g. remote evaluators); `workers` is then unused. */
  startEvaluator?: (setup: EvaluatorSetup) => Promise<Evaluator>;
  /** Once the search splits are cut, before the evaluator starts (for a log line). */
  onSplits?: (data: SearchData) => void;
}

/** The evaluator for `workers` threads: 1 evaluates in this thread, more start a pool. */
export async function startEvaluator(
  setup: EvaluatorSetup,
  options: { workers: number; backend: BackendName },
): Promise<Evaluator> {
  return options.workers <= 1
    ? new InProcessEvaluator(setup)
    : await WorkerPoolEvaluator.start(setup, { workers: options.workers, backend: options.backend });
}

/** Runs (or resumes) a search on `dataset`'s training split; see runSearch. */
export async function searchFromDataset(options: SearchFromDatasetOptions): Promise<SearchResult> {
  const { config, dataset } = options;
  const data = searchSplits(dataset.train, config);
  options.onSplits?.(data);
  const setup = evaluatorSetup(config, data);
  const evaluator = await (options.startEvaluator?.(setup) ?? startEvaluator(setup, options));
  try {
    return await runSearch({
      config,
      data,
      dataSource: dataset.uri,
      evaluator,
      outDir: options.outDir,
      resume: options.resume,
      signal: options.signal,
      onEvent: options.onEvent,
    });
  } finally {
    await evaluator.close();
  }
}
