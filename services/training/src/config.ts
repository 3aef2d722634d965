import {
  checkPeerConfig,
  integerOption,
  PEER_OPTIONS,
  loadServiceConfig,
  addressOption,
  defaultAddress,
  SERVICE_ENDPOINTS,
  serviceHelp,
  STORAGE_OPTIONS,
  type OptionSpec,
  type OptionValues,
  type ServiceConfig,
} from '@rnas/grpc';
import { MAX_JOBS_PER_SUBJECT_OPTION } from '@rnas/jobs';

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
  maxJobsPerSubject: MAX_JOBS_PER_SUBJECT_OPTION,
  evaluatorThreads: {
    flag: '--evaluator-threads',
    env: 'RNAS_EVALUATOR_THREADS',
    description:
      "threads evaluating a search's candidates for search services (EvaluatePair), per search; " +
      'a replica serves its trainings beside them',
    schema: integerOption(1, 64),
    default: '1',
  } satisfies OptionSpec<number>,
  searchAddr: {
    flag: '--search-addr',
    env: 'RNAS_SEARCH_ADDR',
    description: 'the search service, asked (GetSearch) for the genotype of a search StartTraining names',
    schema: addressOption,
    default: defaultAddress('search'),
  } satisfies OptionSpec<string>,
  ...PEER_OPTIONS,
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
  checkPeerConfig(config);
  return config;
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
