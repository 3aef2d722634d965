// Messages between the service and its compute worker. Model versions are named by a key the
// service picks (unique per load), so a reload never meets a stale entry.
import type { BackendInfo, BackendName } from '@rnas/engine';
import type { TfjsMemory } from '@rnas/grpc';
import type { NetworkSpec } from '@rnas/nas';
import type { Preprocessing } from '@rnas/model';

export interface ComputeInit {
  backend: BackendName | undefined;
}

/** What the service learns of a version the worker loaded. */
export interface LoadedModelInfo {
  spec: NetworkSpec;
  labels: string[];
  preprocessing: Preprocessing;
  parameterCount: number;
  metadata: Record<string, string>;
}

export type ToCompute =
  | { type: 'load'; id: number; key: string; dir: string; warmUpBatch: number }
  | { type: 'run'; id: number; key: string; input: Float32Array; n: number }
  | { type: 'unload'; id: number; key: string }
  | { type: 'memory'; id: number };

export type FromCompute =
  | { type: 'ready'; backend: BackendInfo }
  | { type: 'init-error'; message: string }
  | { type: 'loaded'; id: number; info: LoadedModelInfo; memory: TfjsMemory }
  | { type: 'result'; id: number; output: Float32Array; memory: TfjsMemory }
  | { type: 'done'; id: number; memory: TfjsMemory }
  | { type: 'error'; id: number; message: string; memory: TfjsMemory };
