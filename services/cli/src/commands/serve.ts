// `rnas serve inference|search|training [flags]`: runs one service in this process until SIGTERM
// or SIGINT, then drains. The flags (and their environment variables) belong to the service,
// which validates them itself: `rnas serve inference --help` lists them.
import { Command } from 'commander';
import { processIo, type CliIo } from '../io';

/** A service's entry point: serves until it is stopped, returns the exit code. */
type ServiceMain = (argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo) => Promise<number>;

/**
 * The services this command starts. Each is loaded only when asked for: a service pulls in the
 * tensor engine and native modules, which the other commands should not pay for.
 */
const SERVICES: Record<string, () => Promise<ServiceMain>> = {
  inference: async () => (await import('@rnas/inference')).main,
  search: async () => (await import('@rnas/search-service')).serveSearch,
  training: async () => (await import('@rnas/training-service')).serveTraining,
};

const NAMES = Object.keys(SERVICES).join('|');

/** Runs `rnas serve <service> [flags]`; returns the exit code. */
export async function runServeCommand(service: string, flags: readonly string[], io: CliIo): Promise<number> {
  if (service === '--help' || service === '-h') {
    io.stdout.write(`usage: rnas serve ${NAMES} [flags]\n(rnas serve <service> --help lists its flags)\n`);
    return 0;
  }
  if (!Object.hasOwn(SERVICES, service)) {
    io.stderr.write(`rnas serve: unknown service ${JSON.stringify(service)}; expected one of ${NAMES}\n`);
    return 2;
  }
  return (await SERVICES[service]())(flags, io.env, io);
}

/** The `serve` subcommand, ready to add to the program. */
export function serveCommand(io: CliIo = processIo): Command {
  return new Command('serve')
    .description(`run one of the gRPC services (${NAMES}) until SIGTERM; flags as env vars too`)
    .argument('<service>', NAMES)
    .argument('[flags...]', "the service's flags, e.g. --port 50053 --model-repo runs/models")
    .helpOption(false)
    .allowUnknownOption()
    .action(async (service: string, flags: string[]) => {
      process.exitCode = await runServeCommand(service, flags, io);
    });
}
