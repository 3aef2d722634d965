// What every client command of the CLI shares: the service's address (--addr, else its variable,
// else the well-known port), one typed client per command, and failed calls worded as one line
// that says what failed, where, the status, and what to try when nothing answers.
import { readFileSync } from 'node:fs';
import { status, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import {
  createClient,
  defaultAddress,
  isServiceError,
  MAX_AUTHORIZATION_CHARS,
  parseCertificatePem,
  readIdentity,
  SERVICE_ENDPOINTS,
  type ClientTls,
  type PromiseClient,
  type ServiceKind,
} from '@rnas/grpc';
import { hostPort } from '../args';
import type { CliIo } from '../io';

/** Deadline of a unary call unless the command says otherwise. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** How a client command reaches a service securely: TLS files and a bearer token. */
export interface SecurityFlags {
  /** Use TLS (implied by any of the files). */
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  token?: string;
}

/** The flags every client command takes. */
export interface ClientFlags extends SecurityFlags {
  addr?: string;
  json?: boolean;
}

/** The environment variables of the security flags (RNAS_CLIENT_*: a server's RNAS_TLS_* in the same shell is not picked up). */
export const SECURITY_ENV = {
  tls: 'RNAS_CLIENT_TLS',
  tlsCa: 'RNAS_CLIENT_TLS_CA',
  tlsCert: 'RNAS_CLIENT_TLS_CERT',
  tlsKey: 'RNAS_CLIENT_TLS_KEY',
  token: 'RNAS_TOKEN',
} as const;

/** The security flags of a client command, each with its variable. */
export function securityOptions(): Option[] {
  return [
    new Option(
      '--tls',
      `connect with TLS, trusting the system's CAs unless --tls-ca (env ${SECURITY_ENV.tls}=1)`,
    ),
    new Option(
      '--tls-ca <file>',
      `PEM CA certificates the server's certificate must chain to; implies --tls (env ${SECURITY_ENV.tlsCa})`,
    ),
    new Option(
      '--tls-cert <file>',
      `PEM client certificate for mutual TLS, with --tls-key (env ${SECURITY_ENV.tlsCert})`,
    ),
    new Option('--tls-key <file>', `PEM private key of --tls-cert (env ${SECURITY_ENV.tlsKey})`),
    new Option(
      '--token <token>',
      `bearer token sent as authorization: Bearer <token> (env ${SECURITY_ENV.token}, which keeps it out of the process list)`,
    ),
  ];
}

/** Adds the security flags to every command of `program` that takes --addr, at any depth. */
export function addSecurityOptions(program: Command): Command {
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program)) {
    if (!command.options.some((option) => option.long === '--addr')) continue;
    for (const option of securityOptions()) command.addOption(option);
  }
  return program;
}

/** Only the security flags of a command's options, to pass on to another connection. */
export function securityFlags(flags: SecurityFlags): SecurityFlags {
  const { tls, tlsCa, tlsCert, tlsKey, token } = flags;
  return { tls, tlsCa, tlsCert, tlsKey, token };
}

const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The TLS settings and token of a client command: each flag, else its variable. A file that
 * cannot be read or is not PEM is an error naming the flag (or variable) and the path; a token
 * that cannot be a bearer token is an error that does not repeat it.
 */
export function clientSecurity(
  flags: SecurityFlags,
  env: NodeJS.ProcessEnv,
): { tls: ClientTls | undefined; token: string | undefined } {
  const pick = (key: 'tlsCa' | 'tlsCert' | 'tlsKey' | 'token'): { value?: string; name: string } => {
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (flags[key] !== undefined) return { value: flags[key], name: flag };
    const fromEnv = env[SECURITY_ENV[key]];
    return { value: fromEnv === '' ? undefined : fromEnv, name: `${SECURITY_ENV[key]} (flag ${flag})` };
  };
  const ca = pick('tlsCa');
  const cert = pick('tlsCert');
  const key = pick('tlsKey');
  const token = pick('token');
  if (token.value !== undefined) {
    if (token.value.length > MAX_AUTHORIZATION_CHARS || !BEARER_TOKEN.test(token.value)) {
      throw new Error(
        `${token.name}: not a bearer token (letters, digits and -._~+/ then any =, at most ${MAX_AUTHORIZATION_CHARS} characters)`,
      );
    }
  }
  const switched = flags.tls === true || /^(1|true|yes)$/i.test(env[SECURITY_ENV.tls] ?? '');
  if (!switched && ca.value === undefined && cert.value === undefined && key.value === undefined) {
    return { tls: undefined, token: token.value };
  }
  if ((cert.value === undefined) !== (key.value === undefined)) {
    throw new Error(
      cert.value === undefined
        ? `${key.name} ${key.value} is set but not --tls-cert: a client certificate needs both`
        : `${cert.name} ${cert.value} is set but not --tls-key: a client certificate needs both`,
    );
  }
  const tls: ClientTls = {};
  if (ca.value !== undefined) {
    let pem: Buffer;
    try {
      pem = readFileSync(ca.value);
    } catch (error) {
      throw new Error(`${ca.name} ${ca.value}: cannot read the file: ${(error as Error).message}`);
    }
    parseCertificatePem(ca.name, ca.value, pem);
    tls.ca = pem;
  }
  if (cert.value !== undefined && key.value !== undefined) {
    const identity = readIdentity(cert.value, key.value, { cert: cert.name, key: key.name });
    tls.cert = identity.certificate;
    tls.key = identity.privateKey;
  }
  return { tls, token: token.value };
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
  const advice = unreachable
    ? ` (${hint})`
    : error.code === status.UNAUTHENTICATED
      ? ` (pass a token the service lists: --token or ${SECURITY_ENV.token}; \`rnas token new\` makes one)`
      : '';
  return new Error(`${what} at ${address}: ${status[error.code]}: ${callDetails(error)}${advice}`);
}

export interface ServiceConnection<S extends ServiceDefinition> {
  client: PromiseClient<S>;
  address: string;
  /** Awaits a call (or a whole watch); a failed call becomes one serviceCallError line. */
  call<T>(what: string, pending: Promise<T>): Promise<T>;
}

export interface ConnectOptions extends SecurityFlags {
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
  const security = clientSecurity(options, io.env);
  const client = createClient(definition, address, {
    defaultDeadlineMs: options.deadlineMs ?? DEFAULT_CALL_TIMEOUT_MS,
    ...security,
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
