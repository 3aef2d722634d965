// Shared by this package's tests (not built, not exported): building the worker, a tiny network
// and image folder, and promise wrappers around the generated gRPC client.
import { Task } from '@rnas/proto';
import * as path from 'node:path';
import {
  buildPackage,
  collectStream,
  createClient,
  memoryLogger as sharedMemoryLogger,
  type PromiseClient,
} from '@rnas/grpc';
import { temporaryDataRoot, type TemporaryDataRoot } from '@rnas/data';
import {
  TrainingServiceService,
  type StartTrainingRequest,
  type Genotype,
  type NetworkSpec,
  type TrainingRecipe,
  type WatchTrainingResponse,
} from '@rnas/proto';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Trainings run compiled workers (dist/): build this package and what it uses (incremental). */
export const buildService = (): void => buildPackage(ROOT, 'services/training');

/** A temporary directory holding a data root with a 3-class 8x8 grey image folder of shapes. */
export const tinyDataRoot = (train = 24): Promise<TemporaryDataRoot> =>
  temporaryDataRoot('rnas-training-service-', { train, test: 8, seed: 7 });

/** Two-step cells with cheap ops, one parametric op per cell type. */
export const TINY_GENOTYPE: Genotype = {
  normal: [
    { op: 'sep_conv_3x3', input: 0 },
    { op: 'skip_connect', input: 1 },
    { op: 'max_pool_3x3', input: 0 },
    { op: 'skip_connect', input: 2 },
  ],
  normalConcat: [2, 3],
  reduce: [
    { op: 'max_pool_3x3', input: 0 },
    { op: 'dil_conv_3x3', input: 1 },
    { op: 'skip_connect', input: 2 },
    { op: 'avg_pool_3x3', input: 0 },
  ],
  reduceConcat: [2, 3],
};

/** A CIFAR network of 3 cells and 4 channels; classes and input from the dataset. */
export const TINY_SPEC: NetworkSpec = {
  variant: 0,
  channels: 4,
  layers: 3,
  classes: 0,
  inputChannels: 0,
  inputSize: 0,
  auxiliary: false,
};

export function tinyRecipe(overrides: Partial<TrainingRecipe> = {}): TrainingRecipe {
  return {
    epochs: 2,
    batchSize: 8,
    learningRate: 0.05,
    cutout: 4,
    learningRateSchedule: 0,
    seed: 11,
    ...overrides,
  };
}

export function tinyRequest(
  datasetUri: string,
  overrides: Partial<StartTrainingRequest> = {},
): StartTrainingRequest {
  return {
    architecture: { $case: 'genotype', value: TINY_GENOTYPE },
    spec: TINY_SPEC,
    datasetUri,
    recipe: tinyRecipe(),
    modelName: 'tiny',
    task: Task.TASK_UNSPECIFIED,
    detection: undefined,
    ...overrides,
  };
}

/**
 * The flags of a test's service: ephemeral ports, state and models under `dir`, and the search
 * service to ask for searches (a fake one, or none: a port nobody listens on).
 */
export function serviceArgs(dir: string, dataRoot: string, searchAddr = '127.0.0.1:1'): string[] {
  return [
    ...['--port', '0', '--metrics-port', '0'],
    ...['--state-dir', path.join(dir, 'state'), '--model-repo', path.join(dir, 'models')],
    ...['--search-addr', searchAddr, '--data-root', dataRoot],
  ];
}

/** A logger whose lines land in an array (JSON objects), so tests stay quiet and can read them. */
export const memoryLogger = (): ReturnType<typeof sharedMemoryLogger> => sharedMemoryLogger('training');

/** A training client, with `watchAll`: every message of a WatchTraining stream until it ends. */
export type TrainingClient = PromiseClient<typeof TrainingServiceService> & {
  watchAll(
    trainingId: string,
    afterSequence?: number | string,
    onMessage?: (m: WatchTrainingResponse) => void,
  ): Promise<WatchTrainingResponse[]>;
};

export function trainingClient(port: number): TrainingClient {
  const client = createClient(TrainingServiceService, `127.0.0.1:${port}`);
  return Object.assign(client, {
    watchAll: (
      trainingId: string,
      afterSequence: number | string = 0,
      onMessage?: (m: WatchTrainingResponse) => void,
    ) => collectStream(client.watchTraining({ trainingId, afterSequence: String(afterSequence) }), onMessage),
  });
}

export { callFailure as failure } from '@rnas/grpc';
