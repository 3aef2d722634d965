import { availableParallelism } from 'node:os';
import {
  integerOption,
  loadServiceConfig,
  SERVICE_ENDPOINTS,
  serviceHelp,
  STORAGE_OPTIONS,
  type OptionSpec,
  type OptionValues,
  type ServiceConfig,
} from '@rnas/grpc';

/** The search service's well-known ports (gRPC, metrics), as README.md lists them. */
export const SEARCH_PORTS = SERVICE_ENDPOINTS.search;

/** Options of the search service (storage: the state directory and data roots); the common ones come from SERVICE_OPTIONS. */
export const SEARCH_OPTIONS = {
  stateDir: STORAGE_OPTIONS.stateDir,
  dataRoots: STORAGE_OPTIONS.dataRoots,
  maxRunning: {
    flag: '--max-running-searches',
    env: 'RNAS_MAX_RUNNING_SEARCHES',
    description: 'searches running at the same time; the others wait in the queue',
    schema: integerOption(1, 64),
    default: '1',
  } satisfies OptionSpec<number>,
  maxWorkers: {
    flag: '--max-search-workers',
    env: 'RNAS_MAX_SEARCH_WORKERS',
    description: 'most evaluator threads one search may use (SearchConfig.workers is capped to it)',
    schema: integerOption(1, 256),
    default: String(availableParallelism()),
  } satisfies OptionSpec<number>,
};

export type SearchServiceConfig = ServiceConfig & OptionValues<typeof SEARCH_OPTIONS>;

/** The configuration from flags and environment; a ConfigError lists every bad value. */
export function loadSearchServiceConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SearchServiceConfig {
  return loadServiceConfig(argv, env, {
    defaults: { port: String(SEARCH_PORTS.port), metricsPort: String(SEARCH_PORTS.metricsPort) },
    extra: SEARCH_OPTIONS,
  });
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
