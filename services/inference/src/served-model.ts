import type { Preprocessing } from '@rnas/model';
import type { TaskModelSpec } from '@rnas/tasks';
import { Batcher, type BatcherObserver } from './batcher';
import type { LoadedModelInfo } from './compute-protocol';
import type { InputShape } from './preprocess';
import type { ComputeEngine } from './compute';

/**
 * What the model repository and its served models need of the compute engine (a stand-in in unit
 * tests). Defined here, below the repository, so that neither module imports the other.
 */
export type ModelEngine = Pick<ComputeEngine, 'load' | 'run' | 'unload' | 'restart' | 'running'>;

export interface BatchingOptions {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueueSize: number;
  dynamicBatching: boolean;
}

/**
 * One model version loaded in the compute worker (under `key`), with its batcher: what Classify
 * runs. `unload` lets the admitted requests finish, then frees the worker's copy.
 */
export class ServedModel {
  readonly inputShape: InputShape;
  readonly labels: readonly string[];
  readonly preprocessing: Preprocessing;
  /** The task and its head: which RPC serves the model. */
  readonly task: TaskModelSpec;
  readonly batcher: Batcher;

  constructor(
    readonly name: string,
    readonly version: number,
    private readonly key: string,
    info: LoadedModelInfo,
    private readonly engine: ModelEngine,
    batching: BatchingOptions,
    observer?: BatcherObserver,
  ) {
    const pre = info.preprocessing;
    this.inputShape = { height: pre.inputHeight, width: pre.inputWidth, channels: pre.channels };
    this.labels = info.labels;
    this.preprocessing = pre;
    this.task = info.task;
    this.batcher = new Batcher({
      name: `model ${name} version ${version}`,
      maxBatchSize: batching.maxBatchSize,
      maxQueueDelayMs: batching.maxQueueDelayMs,
      maxQueueSize: batching.maxQueueSize,
      dynamic: batching.dynamicBatching,
      inputSize: pre.inputHeight * pre.inputWidth * pre.channels,
      outputSize: info.outputSize,
      run: (input, n) => engine.run(key, input, n),
      observer,
    });
  }

  get classes(): number {
    return this.labels.length;
  }

  /** Stops admitting requests, lets the admitted ones finish, then frees the worker's copy. */
  async unload(): Promise<void> {
    await this.batcher.drain();
    await this.engine.unload(this.key);
  }
}
