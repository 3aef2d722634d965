import { availableParallelism } from 'node:os';
import { z } from 'zod';
import {
  checkPeerConfig,
  integerOption,
  PEER_OPTIONS,
  loadServiceConfig,
  SERVICE_ENDPOINTS,
  serviceHelp,
  STORAGE_OPTIONS,
  type OptionSpec,
  type OptionValues,
  type ServiceConfig,
} from '@rnas/grpc';
import { MAX_JOBS_PER_SUBJECT_OPTION } from '@rnas/jobs';
import { DEFAULT_MAX_SEARCH_BUDGET } from './search-request';

/** The search service's well-known ports (gRPC, metrics), as README.md lists them. */
export const SEARCH_PORTS = SERVICE_ENDPOINTS.search;

/** Options of the search service (storage: the state directory and data roots); the common ones come from SERVICE_OPTIONS. */
export const SEARCH_OPTIONS = {
  stateDir: STORAGE_OPTIONS.stateDir,
  dataRoots: STORAGE_OPTIONS.dataRoots,
  maxDatasetFileBytes: STORAGE_OPTIONS.maxDatasetFileBytes,
  maxRunning: {
    flag: '--max-running-searches',
    env: 'RNAS_MAX_RUNNING_SEARCHES',
    description: 'searches running at the same time; the others wait in the queue',
    schema: integerOption(1, 64),
    default: '1',
  } satisfies OptionSpec<number>,
  maxJobsPerSubject: MAX_JOBS_PER_SUBJECT_OPTION,
  maxSearchBudget: {
    flag: '--max-search-budget',
    env: 'RNAS_MAX_SEARCH_BUDGET',
    description:
      'largest search accepted, in candidate images: population x generations x images per ' +
      'comparison (train_images + val_images; 0, the whole split, counts as 10000000); ' +
      'a larger one is RESOURCE_EXHAUSTED (0: no limit)',
    schema: integerOption(0, 1e15),
    default: String(DEFAULT_MAX_SEARCH_BUDGET),
  } satisfies OptionSpec<number>,
  maxWorkers: {
    flag: '--max-search-workers',
    env: 'RNAS_MAX_SEARCH_WORKERS',
    description: 'most evaluator threads one search may use (SearchConfig.workers is capped to it)',
    schema: integerOption(1, 256),
    default: String(availableParallelism()),
  } satisfies OptionSpec<number>,
  evaluators: {
    flag: '--evaluators',
    env: 'RNAS_EVALUATORS',
    description:
      "who evaluates a search's candidates: local (threads of this service, up to --max-search-workers), " +
      'dns:///name:port (every address of a name, e.g. a headless Service of training replicas), ' +
      'or a comma-separated list of host:port of training services (their EvaluatePair)',
    schema: evaluatorsOption(),
    default: 'local',
  } satisfies OptionSpec<'local' | string[]>,
  evaluatorDeadlineMs: {
    flag: '--evaluator-deadline-ms',
    env: 'RNAS_EVALUATOR_DEADLINE_MS',
    description:
      'deadline of one remote candidate evaluation; past it the candidate is sent to another evaluator',
    schema: integerOption(1000, 86_400_000),
    default: String(30 * 60_000),
  } satisfies OptionSpec<number>,
  ...PEER_OPTIONS,
};

/** `local`, or evaluator targets: `dns:///name:port` or `host:port`, comma-separated. */
function evaluatorsOption(): z.ZodType<'local' | string[]> {
  const target = z
    .string()
    .regex(
      /^(?:dns:(?:\/\/[^/]*\/)?[A-Za-z0-9.-]+:\d{1,5}|(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/,
      'expected dns:///name:port or host:port',
    );
  return z
    .string()
    .trim()
    .transform((text) => (text === 'local' ? 'local' : text.split(',').map((t) => t.trim())))
    .pipe(z.union([z.literal('local'), z.array(target).min(1).max(256)]));
}

export type SearchServiceConfig = ServiceConfig & OptionValues<typeof SEARCH_OPTIONS>;

/** The configuration from flags and environment; a ConfigError lists every bad value. */
export function loadSearchServiceConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SearchServiceConfig {
  const config = loadServiceConfig(argv, env, {
    defaults: { port: String(SEARCH_PORTS.port), metricsPort: String(SEARCH_PORTS.metricsPort) },
    extra: SEARCH_OPTIONS,
  });
  checkPeerConfig(config);
  return config;
}

/** The `--help` text of `rnas serve search`. */
export function searchServiceHelp(): string {
  return serviceHelp({
    name: 'search',
    about: 'Runs architecture searches as durable jobs over gRPC (relativenas.v1.SearchService).',
    ports: SEARCH_PORTS,
    options: SEARCH_OPTIONS,
  });
}
