// Requests to the compute worker and its replies (a RequestThread of @rnas/workers: it is ready
// with its engine backend, and reports its tensor memory with each reply). Model versions are named
// by a key the service picks (unique per load), so a reload never meets a stale entry.
import type { BackendName } from '@rnas/engine';
import type { NetworkSpec } from '@rnas/nas';
import type { Preprocessing } from '@rnas/model';
import type { TaskModelSpec } from '@rnas/tasks';

export interface ComputeInit {
  backend: BackendName | undefined;
}

/** What the service learns of a version the worker loaded. */
export interface LoadedModelInfo {
  spec: NetworkSpec;
  labels: string[];
  preprocessing: Preprocessing;
  parameterCount: number;
  /** The task and its head (which RPC serves the model). */
  task: TaskModelSpec;
  /** Values per image of a run's output (the task's serving record). */
  outputSize: number;
  metadata: Record<string, string>;
}

export type ComputeRequest =
  | { type: 'load'; key: string; dir: string; warmUpBatch: number }
  | { type: 'run'; key: string; input: Float32Array; n: number }
  | { type: 'unload'; key: string }
  | { type: 'memory' };

export type ComputeReply =
  { type: 'loaded'; info: LoadedModelInfo } | { type: 'result'; output: Float32Array } | { type: 'done' };
