// `rnas token`: makes the entries of a service's token file (`--auth-tokens`). The file lists only
// the SHA-256 of each token, so `new` prints the token once, for its holder, and the line to add.
import { Command, Option } from 'commander';
import { MAX_AUTHORIZATION_CHARS, newToken, tokenEntryLine, type Role } from '@rnas/grpc';
import { processIo, type CliIo } from '../io';
import { exitWith } from './service-client';

interface EntryFlags {
  subject: string;
  role: Role;
}

const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** The most read from standard input: a token is far shorter. */
const MAX_STDIN_BYTES = 64 * 1024;

function entryOptions(command: Command): Command {
  return command
    .requiredOption('--subject <name>', 'who the token authenticates (what jobs are recorded under)')
    .addOption(
      new Option('--role <role>', 'user: its own jobs; admin: every job')
        .choices(['user', 'admin'])
        .default('user'),
    );
}

/** The token file line for `subject`, or a clear error for a subject the file would refuse. */
function entryLine(token: string, flags: EntryFlags): string {
  try {
    return tokenEntryLine(token, flags.subject, flags.role);
  } catch {
    throw new Error(
      `--subject ${JSON.stringify(flags.subject)}: expected 1 to 256 characters, no control characters, no leading or trailing spaces`,
    );
  }
}

/** `rnas token new`: a fresh random token, printed once, and its token file line. */
export function runTokenNew(flags: EntryFlags, io: CliIo): number {
  const token = newToken();
  const line = entryLine(token, flags);
  io.stdout.write(
    `token for ${flags.subject} (shown only now; the file keeps only its hash):\n${token}\n` +
      `add this line to the token file (--auth-tokens); the services reload it:\n${line}\n`,
  );
  return 0;
}

/** `rnas token hash`: the token file line of a token read from standard input. */
export async function runTokenHash(flags: EntryFlags, io: CliIo): Promise<number> {
  let text = '';
  for await (const chunk of io.stdin ?? process.stdin) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (text.length > MAX_STDIN_BYTES)
      throw new Error(`standard input: more than ${MAX_STDIN_BYTES} bytes; expected one token`);
  }
  const token = text.replace(/\r?\n$/, '');
  if (token === '') throw new Error('standard input: empty; expected the token on one line');
  if (token.length > MAX_AUTHORIZATION_CHARS || !BEARER_TOKEN.test(token)) {
    throw new Error(
      `standard input: not a bearer token (one line of letters, digits and -._~+/ then any =, at most ${MAX_AUTHORIZATION_CHARS} characters)`,
    );
  }
  io.stdout.write(`${entryLine(token, flags)}\n`);
  return 0;
}

export function tokenCommand(io: CliIo = processIo): Command {
  const command = new Command('token').description(
    'make entries of a token file (--auth-tokens of rnas serve): one JSON line per token, its SHA-256, subject and role',
  );
  entryOptions(
    command.command('new').description('make a random token: prints it once, and its token file line'),
  ).action((flags: EntryFlags) => exitWith(async () => runTokenNew(flags, io)));
  entryOptions(
    command
      .command('hash')
      .description(
        'print the token file line of a token read from standard input (e.g. one from a secret store)',
      ),
  ).action((flags: EntryFlags) => exitWith(() => runTokenHash(flags, io)));
  return command;
}
