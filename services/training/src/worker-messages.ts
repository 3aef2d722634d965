// What the service thread and a training's worker thread exchange (structured-cloned plain data).
import type { BackendName } from '@rnas/engine';
import type { Genotype, NetworkSpec } from '@rnas/nas';
import type { PublishedModel } from '@rnas/model';
import type { EpochReport, Recipe } from '@rnas/train';
import type { HeadConfigs, RequestedSpec } from './training-request';
import type { WorkerMemory } from '@rnas/workers';
import type { TaskName } from '@rnas/tasks';

export interface TrainingWorkerInput {
  readonly trainingId: string;
  readonly genotype: Genotype;
  readonly spec: RequestedSpec;
  readonly datasetUri: string;
  readonly dataRoots: readonly string[];
  /** Largest dataset file the training reads; undefined: libs/data's default. */
  readonly maxDatasetFileBytes?: number;
  readonly recipe: Recipe;
  readonly modelName: string;
  readonly task: TaskName;
  /** A dense task's head config, resolved (the task's own only). */
  readonly configs: HeadConfigs;
  readonly modelRepo: string;
  /** The training's own directory: its checkpoint and the marker of a published model. */
  readonly directory: string;
  /** Epoch reports the service has stored; the worker sends those its checkpoint has beyond them. */
  readonly epochsStored: number;
  readonly backend: BackendName | undefined;
}

export type TrainingWorkerEvent =
  | {
      type: 'start';
      /** The network with every size the dataset decides filled in. */
      spec: NetworkSpec;
      inputSize: number;
      backend: string;
    }
  | { type: 'epoch'; report: EpochReport; memory: WorkerMemory };

export interface TrainingWorkerResult {
  readonly model: PublishedModel;
}
