// `rnas serve search` and `node services/search/dist/main.js`: the search service as a process,
// configured by flags and environment, serving until SIGTERM or SIGINT (then it drains).
import { ConfigError } from '@rnas/grpc';
import { loadSearchServiceConfig, searchServiceHelp } from './config';
import { startSearchService } from './service';

/** Where the command writes besides the JSON logs; tests pass their own. */
export interface ServeIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Runs the service until it is stopped by a signal; returns the exit code. */
export async function serveSearch(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: ServeIo = process,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(searchServiceHelp());
    return 0;
  }
  let config;
  try {
    config = loadSearchServiceConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`rnas serve search: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const service = await startSearchService(config);
  await service.closed;
  return 0;
}

if (require.main === module) {
  serveSearch(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`rnas serve search: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
