import {
  integerOption,
  loadServiceConfig,
  ownedDirectoryOption,
  SERVICE_ENDPOINTS,
  serviceHelp,
  STORAGE_OPTIONS,
  type OptionSpec,
  type OptionValues,
  type ServiceConfig,
} from '@rnas/grpc';
import { z } from 'zod';

/** The training service's well-known ports (gRPC, metrics), as README.md lists them. */
export const TRAINING_PORTS = SERVICE_ENDPOINTS.training;

/** Options of the training service (storage: all three); the common ones come from SERVICE_OPTIONS. */
export const TRAINING_OPTIONS = {
  ...STORAGE_OPTIONS,
  maxRunning: {
    flag: '--max-running-trainings',
    env: 'RNAS_MAX_RUNNING_TRAININGS',
    description: 'trainings running at the same time; the others wait in the queue',
    schema: integerOption(1, 64),
    default: '1',
  } satisfies OptionSpec<number>,
  evaluatorThreads: {
    flag: '--evaluator-threads',
    env: 'RNAS_EVALUATOR_THREADS',
    description:
      "threads evaluating a search's candidates for search services (EvaluatePair), per search; " +
      'a replica serves its trainings beside them',
    schema: integerOption(1, 64),
    default: '1',
  } satisfies OptionSpec<number>,
  searchStateDir: {
    flag: '--search-state-dir',
    env: 'RNAS_SEARCH_STATE_DIR',
    description:
      "the search service's state directory, where StartTraining finds a search by id (default: --state-dir)",
    schema: z.union([z.literal(''), ownedDirectoryOption]),
    default: '',
  } satisfies OptionSpec<string>,
};

export type TrainingServiceConfig = ServiceConfig & OptionValues<typeof TRAINING_OPTIONS>;

/** The configuration from flags and environment; a ConfigError lists every bad value. */
export function loadTrainingServiceConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): TrainingServiceConfig {
  const config = loadServiceConfig(argv, env, {
    defaults: { port: String(TRAINING_PORTS.port), metricsPort: String(TRAINING_PORTS.metricsPort) },
    extra: TRAINING_OPTIONS,
  });
  return {
    ...config,
    searchStateDir: config.searchStateDir === '' ? config.stateDir : config.searchStateDir,
  };
}

/** The `--help` text of `rnas serve training`. */
export function trainingServiceHelp(): string {
  return serviceHelp({
    name: 'training',
    about:
      'Trains discovered cells as durable jobs over gRPC (relativenas.v1.TrainingService) and\n' +
      'publishes them to the model repository.',
    ports: TRAINING_PORTS,
    options: TRAINING_OPTIONS,
  });
}
