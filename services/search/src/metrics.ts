import { Counter, Gauge, type Registry } from 'prom-client';
import type { WorkerMemoryByJob } from '@rnas/jobs';
import type { WorkerMemory } from '@rnas/workers';

/**
 * The search domain series, on the server's registry. Per-search series carry the search id only
 * while the search runs, so the label set stays as small as the number of running searches.
 */
export class SearchMetrics {
  readonly generations: Counter;
  readonly evaluations: Counter;
  readonly bestValidationLoss: Gauge<'search_id'>;
  readonly imagesPerSecond: Gauge<'search_id'>;
  readonly evaluatorInFlight: Gauge<'evaluator'>;
  readonly evaluatorBytesSent: Counter<'evaluator'>;
  readonly evaluatorRetries: Counter<'evaluator'>;

  constructor(
    registry: Registry,
    private readonly workerMemory: WorkerMemoryByJob,
  ) {
    const registers = [registry];
    this.generations = new Counter({
      name: 'rnas_search_generations_total',
      help: 'Search generations completed (checkpointed).',
      registers,
    });
    this.evaluations = new Counter({
      name: 'rnas_search_candidate_evaluations_total',
      help: 'Candidates trained and validated (both members of a pair count).',
      registers,
    });
    this.bestValidationLoss = new Gauge({
      name: 'rnas_search_best_validation_loss',
      help: 'Lowest validation loss found so far by each running search.',
      labelNames: ['search_id'],
      registers,
    });
    this.evaluatorInFlight = new Gauge({
      name: 'rnas_search_evaluator_calls_in_flight',
      help: 'Candidate evaluations in flight on each remote evaluator target (--evaluators).',
      labelNames: ['evaluator'],
      registers,
    });
    this.evaluatorBytesSent = new Counter({
      name: 'rnas_search_evaluator_bytes_sent_total',
      help: 'Bytes of EvaluatePair requests sent to each remote evaluator target.',
      labelNames: ['evaluator'],
      registers,
    });
    this.evaluatorRetries = new Counter({
      name: 'rnas_search_evaluator_retries_total',
      help: 'Candidate evaluations sent again because an evaluator failed, by the target that failed.',
      labelNames: ['evaluator'],
      registers,
    });
    this.imagesPerSecond = new Gauge({
      name: 'rnas_search_images_per_second',
      help: 'Training and validation images per second of the last comparison of each running search.',
      labelNames: ['search_id'],
      registers,
    });
  }

  /** The tensor memory the search's worker reported last. */
  reportMemory(searchId: string, memory: WorkerMemory): void {
    this.workerMemory.report(searchId, memory);
  }

  /** Drops the series of a search that stopped running. */
  forget(searchId: string): void {
    this.workerMemory.forget(searchId);
    this.bestValidationLoss.remove({ search_id: searchId });
    this.imagesPerSecond.remove({ search_id: searchId });
  }
}
