import { Counter, Gauge, type Registry } from 'prom-client';
import { JOB_STATES, type JobState } from '@rnas/jobs';
import { sumWorkerMemory, type WorkerMemory } from '@rnas/workers';

/**
 * The training domain series, on the server's registry. The per-training gauge carries the
 * training id only while it runs, so the label set stays as small as the number of running ones.
 */
export class TrainingMetrics {
  readonly epochs: Counter;
  readonly images: Counter;
  readonly imagesPerSecond: Gauge<'training_id'>;
  private readonly workerMemory = new Map<string, WorkerMemory>();

  constructor(registry: Registry, countByState: () => Record<JobState, number>) {
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
    this.imagesPerSecond = new Gauge({
      name: 'rnas_training_images_per_second',
      help: 'Training throughput of the last epoch of each running training.',
      labelNames: ['training_id'],
      registers,
    });
    new Gauge({
      name: 'rnas_training_jobs',
      help: 'Trainings in the job database, by state.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = countByState();
        for (const state of JOB_STATES) this.set({ state }, counts[state]);
      },
    });
  }

  /** The tensor memory the training's worker reported last. */
  reportMemory(trainingId: string, memory: WorkerMemory): void {
    this.workerMemory.set(trainingId, memory);
  }

  /** The engine memory of every running training's worker, added up (for trackTfjsMemory). */
  totalWorkerMemory(): WorkerMemory {
    return sumWorkerMemory(this.workerMemory.values());
  }

  /** Drops the series of a training that stopped running. */
  forget(trainingId: string): void {
    this.workerMemory.delete(trainingId);
    this.imagesPerSecond.remove({ training_id: trainingId });
  }
}
