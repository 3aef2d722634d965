// The `rnas` program: each subcommand lives in commands/ and is added here with one line.
import { Command, CommanderError } from 'commander';
import { forwardCommand } from './commands/forward';
import { paramsCommand } from './commands/params';
import { searchCommand } from './commands/search';
import { withSearchClient } from './commands/search-client';
import { trainClientCommand } from './commands/train-client';
import { serveCommand } from './commands/serve';
import { modelsCommand } from './commands/models';
import { classifyCommand } from './commands/classify';
import { detectCommand } from './commands/detect';
import { segmentCommand } from './commands/segment';
import { poseCommand } from './commands/pose';
import { demoCommand } from './commands/demo';
import { trainStepCommand } from './commands/train-step';
import { synthCommand } from './commands/synth';
import { processIo, type CliIo } from './io';
import { addSecurityOptions } from './commands/service-client';
import { tokenCommand } from './commands/token';

export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('rnas')
    .description('RelativeNAS: architecture search, training and serving of DARTS-family cells')
    .showHelpAfterError()
    .addCommand(paramsCommand(io))
    .addCommand(forwardCommand(io))
    .addCommand(trainStepCommand(io))
    .addCommand(withSearchClient(searchCommand(io), io))
    .addCommand(trainClientCommand(io))
    .addCommand(serveCommand(io))
    .addCommand(modelsCommand(io))
    .addCommand(classifyCommand(io))
    .addCommand(synthCommand(io))
    .addCommand(detectCommand(io))
    .addCommand(segmentCommand(io))
    .addCommand(poseCommand(io))
    .addCommand(demoCommand(io))
    .addCommand(tokenCommand(io));
  // Every command that connects to a service (it takes --addr) takes the TLS flags and --token.
  return addSecurityOptions(program);
}

/**
 * Runs the command line and returns the exit code: usage errors as commander reports them, any
 * other failure as one line `rnas: <message>` on stderr (the stack only with RNAS_DEBUG=1).
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  // Added subcommands do not inherit these settings, so every command at every depth gets them.
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program)) {
    command.exitOverride().configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  }
  // Commands report their code through process.exitCode; it is read here and put back as it was,
  // so that a caller running several command lines in one process (the tests, under jest's single
  // in-band process on a small machine) does not exit with the code of the last one.
  const previous = process.exitCode;
  try {
    process.exitCode = undefined;
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const e = err as Error;
    io.stderr.write(`rnas: ${e.message ?? String(err)}\n`);
    if (io.env.RNAS_DEBUG === '1' && e.stack !== undefined) io.stderr.write(`${e.stack}\n`);
    return 1;
  } finally {
    process.exitCode = previous;
  }
}
