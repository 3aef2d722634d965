// A service as a process: `rnas serve <name>` and `node services/<name>/dist/main.js`. One entry
// point for every service: --help, the configuration (every bad flag or variable reported, exit
// code 2), then serving until SIGTERM or SIGINT, after which the service drains and the process
// exits 0.
import { ConfigError } from './config';

/** Where the command writes besides the JSON logs; tests pass their own. */
export interface ServeIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** A service's process entry: serves until stopped, returns the exit code. */
export type ServeMain = (
  argv: readonly string[],
  env?: Readonly<Record<string, string | undefined>>,
  io?: ServeIo,
) => Promise<number>;

export interface ServiceMainSpec<Config> {
  /** As in `rnas serve <name>`. */
  name: string;
  /** The `--help` text. */
  help(): string;
  /** The configuration from flags and environment; throws ConfigError listing every bad value. */
  load(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Config;
  /** Starts the service; `closed` resolves once it has drained after a signal. */
  start(config: Config): Promise<{ closed: Promise<void> }>;
}

/** The process entry of a service. */
export function serviceMain<Config>(spec: ServiceMainSpec<Config>): ServeMain {
  return async (argv, env = process.env, io = process) => {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout.write(spec.help());
      return 0;
    }
    let config: Config;
    try {
      config = spec.load(argv, env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      io.stderr.write(`rnas serve ${spec.name}: ${err.message}\n(see rnas serve ${spec.name} --help)\n`);
      return 2;
    }
    const service = await spec.start(config);
    await service.closed;
    return 0;
  };
}

/** Runs `main` on this process's arguments and sets the exit code (`node dist/main.js ...`). */
export function runMain(name: string, main: ServeMain): void {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`rnas serve ${name}: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
