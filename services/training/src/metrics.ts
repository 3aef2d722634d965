import { Counter, Gauge, type Registry } from 'prom-client';
import type { WorkerMemoryByJob } from '@rnas/jobs';
import type { WorkerMemory } from '@rnas/workers';

/**
 * The training domain series, on the server's registry. The per-training gauge carries the
 * training id only while it runs, so the label set stays as small as the number of running ones.
 */
export class TrainingMetrics {
  readonly epochs: Counter;
  readonly images: Counter;
  readonly imagesPerSecond: Gauge<'training_id'>;
  readonly evaluations: Counter<'outcome'>;

  constructor(
    registry: Registry,
    private readonly workerMemory: WorkerMemoryByJob,
  ) {
    const registers = [registry];
    this.epochs = new Counter({
      name: 'rnas_training_epochs_total',
      help: 'Training epochs completed (checkpointed).',
      registers,
    });
    this.images = new Counter({
      name: 'rnas_training_images_total',
      help: 'Images trained on.',
      registers,
    });
    this.evaluations = new Counter({
      name: 'rnas_training_search_evaluations_total',
      help: "Search candidates evaluated for a search service (EvaluatePair), by outcome ('ok' or 'error').",
      labelNames: ['outcome'],
      registers,
    });
    this.imagesPerSecond = new Gauge({
      name: 'rnas_training_images_per_second',
      help: 'Training throughput of the last epoch of each running training.',
      labelNames: ['training_id'],
      registers,
    });
  }

  /** The tensor memory the training's worker reported last. */
  reportMemory(trainingId: string, memory: WorkerMemory): void {
    this.workerMemory.report(trainingId, memory);
  }

  /** Drops the series of a training that stopped running. */
  forget(trainingId: string): void {
    this.workerMemory.forget(trainingId);
    this.imagesPerSecond.remove({ training_id: trainingId });
  }
}
