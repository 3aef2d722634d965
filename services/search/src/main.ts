// `rnas serve search` and `node services/search/dist/main.js`: the search service as a process,
// configured by flags and environment, serving until SIGTERM or SIGINT (then it drains).
import { runMain, serviceMain } from '@rnas/grpc';
import { loadSearchServiceConfig, searchServiceHelp } from './config';
import { startSearchService } from './service';

/** Runs the service until it is stopped by a signal; returns the exit code. */
export const serveSearch = serviceMain({
  name: 'search',
  help: searchServiceHelp,
  load: loadSearchServiceConfig,
  start: (config) => startSearchService(config),
});

if (require.main === module) runMain('search', serveSearch);
