// What the service thread and a search's worker thread exchange (structured-cloned plain data).
import type { BackendName } from '@rnas/engine';
import type {
  BestRecord,
  SearchConfig,
  SearchGenerationEvent,
  SearchPairEvent,
  SearchStartEvent,
} from '@rnas/nas';
import type { PeerSettings } from '@rnas/grpc';
import type { WorkerMemory } from '@rnas/workers';
import type { EvaluatorStats } from './remote-evaluator';

export interface SearchWorkerInput {
  readonly searchId: string;
  readonly config: SearchConfig;
  readonly datasetUri: string;
  readonly dataRoots: readonly string[];
  /** Largest dataset file the search reads; undefined: libs/data's default. */
  readonly maxDatasetFileBytes?: number;
  /** The search's artefacts directory (checkpoint, history, cells, genotype). */
  readonly outDir: string;
  /** Evaluator threads: 1 evaluates in the search's own worker thread. */
  readonly workers: number;
  /** Remote evaluators (training services' EvaluatePair) instead of threads; 'local': threads. */
  readonly evaluators: 'local' | readonly string[];
  readonly evaluatorDeadlineMs: number;
  /** The largest gRPC message of the remote evaluations (--max-message-bytes). */
  readonly maxMessageBytes: number;
  /** The credentials the remote evaluators are called with (file paths: the worker reads them). */
  readonly peer: PeerSettings;
  /** Engine backend for the search's threads; undefined: RNAS_BACKEND, else 'auto'. */
  readonly backend: BackendName | undefined;
}

/** libs/nas' search events as the worker sends them: with its backend or its engine's memory. */
export type SearchWorkerEvent =
  | (Omit<SearchStartEvent, 'config'> & { backend: string })
  | ({ type: 'evaluator' } & EvaluatorStats)
  | { type: 'log'; message: string }
  | (SearchPairEvent & { memory: WorkerMemory })
  | (SearchGenerationEvent & { memory: WorkerMemory });

export interface SearchWorkerResult {
  /** The search's result (RELATIVENAS.md section 6): the best of the last generation. */
  readonly best: BestRecord;
  /** The lowest validation loss of the whole search. */
  readonly bestSoFar: BestRecord;
}
