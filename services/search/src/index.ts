export {
  startSearchService,
  defaultSearchWorkerScript,
  SEARCH_DATABASE,
  type SearchServiceOptions,
  type RunningService,
} from './service';
export { serveSearch } from './main';
export {
  loadSearchServiceConfig,
  searchServiceHelp,
  SEARCH_OPTIONS,
  SEARCH_PORTS,
  type SearchServiceConfig,
} from './config';
export {
  resolveStartSearch,
  searchConfigToProto,
  type ResolvedSearch,
  type SearchLimits,
} from './search-request';
