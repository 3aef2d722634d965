// What every client command of the CLI shares: the service's address (--addr, else its variable,
// else the well-known port), one typed client per command, and failed calls worded as one line
// that says what failed, where, the status, and what to try when nothing answers.
import { status, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import {
  createClient,
  defaultAddress,
  isServiceError,
  SERVICE_ENDPOINTS,
  type PromiseClient,
  type ServiceKind,
} from '@rnas/grpc';
import { hostPort } from '../args';
import type { CliIo } from '../io';

/** Deadline of a unary call unless the command says otherwise. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** The flags every client command takes. */
export interface ClientFlags {
  addr?: string;
  json?: boolean;
}

export interface WatchFlags extends ClientFlags {
  after?: number;
}

/** The service address: the flag, else the service's environment variable, else the well-known port on localhost. */
export function serviceAddress(kind: ServiceKind, flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const variable = SERVICE_ENDPOINTS[kind].addressEnv;
  const address = flag ?? (env[variable] || defaultAddress(kind));
  if (!/^[^\s]{1,255}$/.test(address)) {
    throw new Error(
      `${flag === undefined ? variable : '--addr'}: expected host:port, got ${JSON.stringify(address)}`,
    );
  }
  return address;
}

/** The `--addr` flag of a client command of `kind`. */
export function addressOption(kind: ServiceKind): Option {
  return new Option(
    '--addr <host:port>',
    `${kind} service address (env ${SERVICE_ENDPOINTS[kind].addressEnv}, default ${defaultAddress(kind)})`,
  ).argParser(hostPort);
}

/** What to try when the service does not answer. */
export function unreachableHint(kind: ServiceKind): string {
  return `is \`rnas serve ${kind}\` running there? set --addr or ${SERVICE_ENDPOINTS[kind].addressEnv}`;
}

/**
 * A status's details as one clean sentence: grpc-js appends `Resolution note: ` with nothing after
 * it to connection failures, and wraps the reason in `Last error: Error: ...`.
 */
export function callDetails(error: ServiceError): string {
  return (error.details ?? '')
    .replace(/\s*Resolution note:\s*$/, '')
    .replace(/Last error: Error: /, 'last error: ')
    .trim();
}

/** A failed call as one line that says where and why, and what to try when nothing answers. */
export function serviceCallError(what: string, address: string, error: ServiceError, hint: string): Error {
  const unreachable = error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED;
  return new Error(
    `${what} at ${address}: ${status[error.code]}: ${callDetails(error)}${unreachable ? ` (${hint})` : ''}`,
  );
}

export interface ServiceConnection<S extends ServiceDefinition> {
  client: PromiseClient<S>;
  address: string;
  /** Awaits a call (or a whole watch); a failed call becomes one serviceCallError line. */
  call<T>(what: string, pending: Promise<T>): Promise<T>;
}

export interface ConnectOptions {
  /** The address given, as --addr (absent: the variable, then the well-known port). */
  addr?: string;
  /** Deadline of unary calls [10 s]. */
  deadlineMs?: number;
  /** What to try when nothing answers [start the service, or point --addr or the variable elsewhere]. */
  hint?: string;
}

/** Runs `work` with a client of the service of `kind`, closed afterwards whatever happens. */
export async function withService<S extends ServiceDefinition, T>(
  kind: ServiceKind,
  definition: S,
  options: ConnectOptions,
  io: CliIo,
  work: (connection: ServiceConnection<S>) => Promise<T>,
): Promise<T> {
  const address = serviceAddress(kind, options.addr, io.env);
  const hint = options.hint ?? unreachableHint(kind);
  const client = createClient(definition, address, {
    defaultDeadlineMs: options.deadlineMs ?? DEFAULT_CALL_TIMEOUT_MS,
  });
  const call = <R>(what: string, pending: Promise<R>): Promise<R> =>
    pending.catch((error: unknown) => {
      throw isServiceError(error) ? serviceCallError(what, address, error, hint) : error;
    });
  try {
    return await work({ client, address, call });
  } finally {
    client.close();
  }
}

/** One call to the service of `kind`: connect, send, close; a failure becomes one error line. */
export function callService<S extends ServiceDefinition, T>(
  kind: ServiceKind,
  definition: S,
  options: ConnectOptions,
  io: CliIo,
  what: string,
  send: (client: PromiseClient<S>) => Promise<T>,
): Promise<T> {
  return withService(kind, definition, options, io, ({ client, call }) => call(what, send(client)));
}

/** Runs a subcommand's work and sets the process's exit code to what it returns. */
export function exitWith(work: () => Promise<number>): Promise<void> {
  return work().then((code) => void (process.exitCode = code));
}

/**
 * Makes `command` and its subcommands throw instead of exiting and write to `io`: what runCli
 * does for the program, for commands that parse their arguments themselves.
 */
export function overrideExit(command: Command, io: CliIo): Command {
  for (const sub of [command, ...command.commands]) {
    sub
      .exitOverride()
      .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) });
  }
  return command;
}
