import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_AUTH_EXEMPT, readTokenFile } from './auth';
import { formatValue } from './errors';
import { LOG_LEVELS, type LogLevel } from './logger';
import { PEER_FLAGS, peerIdentityProblem, PeerTokenError, readPeerToken, type PeerSettings } from './peer';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SHUTDOWN_GRACE_MS, plaintextRefusal } from './server';
import { isLoopbackHost, PemError, readCaBundle, readIdentity } from './tls';

/**
 * One configuration value, settable by a flag or an environment variable (the flag wins), parsed
 * and validated by a zod schema from its raw text. List options take the flag several times and
 * split every raw text on the path delimiter (`:`), like PATH.
 */
export interface OptionSpec<T> {
  /** Long flag, e.g. `--port`; `--port 1` and `--port=1` both work. */
  flag: `--${string}`;
  /** Environment variable, e.g. `RNAS_PORT`; an empty value counts as unset. */
  env: string;
  /** One line for `--help`. */
  description: string;
  /** Parses the raw text (a string, or a string[] for a list) into the value. */
  schema: z.ZodType<T>;
  /** Raw default, parsed like any input; absent makes the option required. */
  default?: string | readonly string[];
  /** Whether the option is a list. */
  list?: boolean;
  /** A switch: the flag alone means true (`--flag=false` too is accepted); the variable takes 1/0, true/false. */
  switch?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec<unknown>>;
export type OptionValues<S extends OptionSpecs> = {
  [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never;
};

/** Every problem of a configuration at once, one per line, each naming the flag or variable and the value. */
export class ConfigError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const MAX_PATH_CHARS = 4096;

const pathText = z
  .string()
  .min(1, { error: 'expected a path, got an empty string' })
  .max(MAX_PATH_CHARS, { error: `a path is at most ${MAX_PATH_CHARS} characters` })
  .refine((text) => !text.includes('\0'), { error: 'a path cannot contain a NUL character' })
  .transform((text) => path.resolve(text));

/** A whole number in [min, max], from its decimal text. */
export function integerOption(min: number, max: number): z.ZodType<number> {
  return z
    .string()
    .trim()
    .regex(/^[+-]?\d+$/, { error: `expected a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    );
}

/** A switch's value: `true`/`false`, `1`/`0`, `yes`/`no`. */
export const switchOption: z.ZodType<boolean> = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false (or 1 or 0)' }))
  .transform((text) => text === 'true' || text === '1' || text === 'yes');

/** A path that may be left unset (empty: undefined); the value is absolute. */
export const optionalPathOption: z.ZodType<string | undefined> = z
  .string()
  .transform((text) => (text === '' ? undefined : text))
  .pipe(pathText.optional());

/**
 * An optional file that `check` reads and validates when the configuration is loaded (a PEM
 * file, the token file): what is wrong with it is reported against the flag and the path.
 */
function checkedFileOption(check: (file: string) => void): z.ZodType<string | undefined> {
  return optionalPathOption.transform((file, ctx) => {
    if (file === undefined) return undefined;
    try {
      check(file);
    } catch (error) {
      const message =
        error instanceof PemError || error instanceof PeerTokenError
          ? error.reason
          : (error as Error).message;
      ctx.issues.push({ code: 'custom', message, input: file });
      return z.NEVER;
    }
    return file;
  });
}

/** A TCP port; 0 asks the system for a free one. */
export const portOption = integerOption(0, 65535);

/** A host name or IP literal to bind (no scheme, no port). */
export const hostOption: z.ZodType<string> = z
  .string()
  .trim()
  .min(1, { error: 'expected a host name or IP address, got an empty string' })
  .max(253, { error: 'a host name is at most 253 characters' })
  .regex(/^[A-Za-z0-9._%:[\]-]+$/, {
    error: 'expected a host name or IP address (letters, digits, . - : only)',
  });

/** A gRPC target a service calls: `host:port`, `[v6]:port` or `dns:///name:port`, as grpc-js takes it. */
export const addressOption: z.ZodType<string> = z
  .string()
  .trim()
  .regex(/^(?:dns:(?:\/\/[^/]*\/)?)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
    error: 'expected host:port (or dns:///name:port)',
  });

/** A directory that must already exist (an input, such as a data root); the value is absolute. */
export const existingDirectoryOption: z.ZodType<string> = pathText.transform((dir, ctx) => {
  const problem = directoryProblem(dir);
  if (problem) {
    ctx.issues.push({ code: 'custom', message: problem, input: dir });
    return z.NEVER;
  }
  return dir;
});

/**
 * A directory the service owns (state, model repository): an existing directory, or a path that
 * can be created under an existing directory. Parsing creates nothing (so `--help`, a bad
 * configuration or a test leaves no folders behind); the service creates it when it starts
 * (`ensureDirectory`).
 */
export const ownedDirectoryOption: z.ZodType<string> = pathText.transform((dir, ctx) => {
  const problem = ownedDirectoryProblem(dir);
  if (problem) {
    ctx.issues.push({ code: 'custom', message: problem, input: dir });
    return z.NEVER;
  }
  return dir;
});

function ownedDirectoryProblem(dir: string): string | undefined {
  let info;
  try {
    info = statSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      return `cannot use the directory: ${(error as Error).message}`;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return `cannot use the directory: ${dir} does not exist`;
    const above = ownedDirectoryProblem(parent);
    return above === undefined ? undefined : `cannot create the directory: ${above}`;
  }
  return info.isDirectory() ? undefined : `${dir} is not a directory`;
}

/** Creates a directory the service owns, with its parents, when it starts. */
export function ensureDirectory(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

function directoryProblem(dir: string): string | undefined {
  try {
    return statSync(dir).isDirectory() ? undefined : `${dir} is not a directory`;
  } catch {
    return `directory ${dir} does not exist`;
  }
}

/** The options every service takes: the stable interface deployment and tools rely on. */
export const SERVICE_OPTIONS = {
  host: {
    flag: '--host',
    env: 'RNAS_HOST',
    description:
      'interface to bind the gRPC and metrics ports to (one other hosts reach needs --tls-cert or --insecure)',
    schema: hostOption,
    default: '127.0.0.1',
  } satisfies OptionSpec<string>,
  port: {
    flag: '--port',
    env: 'RNAS_PORT',
    description: 'gRPC port (0: any free port)',
    schema: portOption,
    default: '0',
  } satisfies OptionSpec<number>,
  metricsPort: {
    flag: '--metrics-port',
    env: 'RNAS_METRICS_PORT',
    description: 'HTTP port of /metrics and /healthz (0: any free port)',
    schema: portOption,
    default: '0',
  } satisfies OptionSpec<number>,
  maxMessageBytes: {
    flag: '--max-message-bytes',
    env: 'RNAS_MAX_MESSAGE_BYTES',
    description: 'largest gRPC message received or sent, in bytes',
    schema: integerOption(1024, 1024 * 1024 * 1024),
    default: String(DEFAULT_MAX_MESSAGE_BYTES),
  } satisfies OptionSpec<number>,
  shutdownGraceMs: {
    flag: '--shutdown-grace-ms',
    env: 'RNAS_SHUTDOWN_GRACE_MS',
    description: 'how long a drain waits for calls in flight, in milliseconds',
    schema: integerOption(0, 600_000),
    default: String(DEFAULT_SHUTDOWN_GRACE_MS),
  } satisfies OptionSpec<number>,
  logLevel: {
    flag: '--log-level',
    env: 'RNAS_LOG_LEVEL',
    description: `minimum log level (${LOG_LEVELS.join(', ')})`,
    schema: z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]], {
      error: `expected one of ${LOG_LEVELS.join(', ')}`,
    }),
    default: 'info',
  } satisfies OptionSpec<LogLevel>,
  tlsCert: {
    flag: '--tls-cert',
    env: 'RNAS_TLS_CERT',
    description: 'PEM certificate chain to serve TLS with (with --tls-key; reloaded when the file changes)',
    schema: checkedFileOption((file) => {
      readCaBundle('--tls-cert', file);
    }),
    default: '',
  } satisfies OptionSpec<string | undefined>,
  tlsKey: {
    flag: '--tls-key',
    env: 'RNAS_TLS_KEY',
    description: 'PEM private key of --tls-cert (reloaded when the file changes)',
    schema: optionalPathOption,
    default: '',
  } satisfies OptionSpec<string | undefined>,
  tlsClientCa: {
    flag: '--tls-client-ca',
    env: 'RNAS_TLS_CLIENT_CA',
    description: 'PEM CA certificates: mutual TLS, every client must present a certificate they signed',
    schema: checkedFileOption((file) => {
      readCaBundle('--tls-client-ca', file);
    }),
    default: '',
  } satisfies OptionSpec<string | undefined>,
  insecure: {
    flag: '--insecure',
    env: 'RNAS_INSECURE',
    description: 'allow plaintext gRPC on an address other than loopback (a switch; logs a warning)',
    schema: switchOption,
    default: 'false',
    switch: true,
  } satisfies OptionSpec<boolean>,
  authTokens: {
    flag: '--auth-tokens',
    env: 'RNAS_AUTH_TOKENS',
    description:
      'token file (JSON lines of sha256, subject, role; `rnas token new` makes one): calls need a bearer token it lists (reloaded when it changes)',
    schema: checkedFileOption((file) => {
      readTokenFile(file);
    }),
    default: '',
  } satisfies OptionSpec<string | undefined>,
  authExempt: {
    flag: '--auth-exempt',
    env: 'RNAS_AUTH_EXEMPT',
    description: `services callable without credentials when authentication is on (repeat the flag or separate with '${path.delimiter}')`,
    schema: z.array(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/, {
        error: 'expected a full gRPC service name, e.g. grpc.health.v1.Health',
      }),
    ),
    default: DEFAULT_AUTH_EXEMPT,
    list: true,
  } satisfies OptionSpec<string[]>,
};

export type ServiceConfig = OptionValues<typeof SERVICE_OPTIONS>;

/**
 * Storage options, each taken by the services that use it (search: state and data roots;
 * training: all three; inference: the model repository), so that `--help` lists only what a
 * service reads.
 */
export const STORAGE_OPTIONS = {
  stateDir: {
    flag: '--state-dir',
    env: 'RNAS_STATE_DIR',
    description: 'directory of the job database and checkpoints (created if missing)',
    schema: ownedDirectoryOption,
    default: 'runs/state',
  } satisfies OptionSpec<string>,
  modelRepo: {
    flag: '--model-repo',
    env: 'RNAS_MODEL_REPO',
    description: 'model repository <repo>/<model>/<version>/ (created if missing)',
    schema: ownedDirectoryOption,
    default: 'runs/models',
  } satisfies OptionSpec<string>,
  dataRoots: {
    flag: '--data-root',
    env: 'RNAS_DATA_ROOT',
    description: `directories datasets may be read from (repeat the flag or separate with '${path.delimiter}')`,
    schema: z.array(existingDirectoryOption),
    default: [],
    list: true,
  } satisfies OptionSpec<string[]>,
  maxDatasetFileBytes: {
    flag: '--max-dataset-file-bytes',
    env: 'RNAS_MAX_DATASET_FILE_BYTES',
    description:
      'largest dataset file a job may read, in bytes, after decompression (a larger one fails the job with RESOURCE_EXHAUSTED)',
    schema: integerOption(1024, 64 * 1024 ** 3),
    default: String(1024 ** 3),
  } satisfies OptionSpec<number>,
};

/**
 * The credentials a service presents when it calls the other services (the search service's
 * remote evaluators, the training service's search lookups), taken by the services that call
 * others. Unset: plaintext and no token, as a single machine on loopback needs.
 */
export const PEER_OPTIONS = {
  peerTls: {
    flag: '--peer-tls',
    env: 'RNAS_PEER_TLS',
    description:
      "call the other services with TLS, trusting the system's CAs unless --peer-tls-ca (a switch; " +
      'implied by --peer-tls-ca and --peer-tls-cert)',
    schema: switchOption,
    default: 'false',
    switch: true,
  } satisfies OptionSpec<boolean>,
  peerTlsCa: {
    flag: PEER_FLAGS.ca,
    env: 'RNAS_PEER_TLS_CA',
    description:
      "PEM CA certificates the other services' certificates must chain to (re-read when the file changes)",
    schema: checkedFileOption((file) => {
      readCaBundle(PEER_FLAGS.ca, file);
    }),
    default: '',
  } satisfies OptionSpec<string | undefined>,
  peerTlsCert: {
    flag: PEER_FLAGS.cert,
    env: 'RNAS_PEER_TLS_CERT',
    description:
      'PEM client certificate presented to the other services (mutual TLS), with --peer-tls-key (re-read when it changes)',
    schema: checkedFileOption((file) => {
      readCaBundle(PEER_FLAGS.cert, file);
    }),
    default: '',
  } satisfies OptionSpec<string | undefined>,
  peerTlsKey: {
    flag: PEER_FLAGS.key,
    env: 'RNAS_PEER_TLS_KEY',
    description: 'PEM private key of --peer-tls-cert',
    schema: optionalPathOption,
    default: '',
  } satisfies OptionSpec<string | undefined>,
  peerTokenFile: {
    flag: PEER_FLAGS.token,
    env: 'RNAS_PEER_TOKEN_FILE',
    description:
      'file holding the bearer token sent to the other services: an admin subject of their --auth-tokens ' +
      '(re-read when it changes; never logged)',
    schema: checkedFileOption((file) => {
      readPeerToken(file);
    }),
    default: '',
  } satisfies OptionSpec<string | undefined>,
};

export type PeerConfig = OptionValues<typeof PEER_OPTIONS>;

/** ConfigError when the peer flags do not go together (a certificate without its key, a key of another certificate). */
export function checkPeerConfig(config: PeerConfig): void {
  const { peerTlsCert, peerTlsKey } = config;
  if ((peerTlsCert === undefined) !== (peerTlsKey === undefined)) {
    throw new ConfigError([peerIdentityProblem(peerTlsCert, peerTlsKey)]);
  }
  if (peerTlsCert !== undefined && peerTlsKey !== undefined) {
    try {
      readIdentity(peerTlsCert, peerTlsKey, { cert: PEER_FLAGS.cert, key: PEER_FLAGS.key });
    } catch (error) {
      throw new ConfigError([(error as Error).message]);
    }
  }
}

/** The peer settings of a checked configuration (plain data, for PeerCredentials or a worker thread). */
export function peerSettings(config: PeerConfig): PeerSettings {
  return {
    tls: config.peerTls,
    caFile: config.peerTlsCa,
    certFile: config.peerTlsCert,
    keyFile: config.peerTlsKey,
    tokenFile: config.peerTokenFile,
  };
}

export interface LoadConfigOptions<E extends OptionSpecs> {
  /** Per-service defaults, as raw text (e.g. each service's well-known port). */
  defaults?: { [K in keyof typeof SERVICE_OPTIONS]?: string | readonly string[] };
  /** Options of this service only (e.g. the inference batch size). */
  extra?: E;
}

/**
 * The service configuration from its flags and environment, validated at start: a ConfigError
 * lists every bad value with the flag or variable it came from.
 */
export function loadServiceConfig<E extends OptionSpecs = Record<never, never>>(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: LoadConfigOptions<E> = {},
): ServiceConfig & OptionValues<E> {
  const specs: OptionSpecs = { ...SERVICE_OPTIONS, ...options.extra };
  for (const [key, value] of Object.entries(options.defaults ?? {})) {
    specs[key] = { ...specs[key], default: value };
  }
  const config = parseOptions(specs, argv, env) as ServiceConfig & OptionValues<E>;
  if (config.port !== 0 && config.port === config.metricsPort) {
    throw new ConfigError([`--port and --metrics-port are both ${config.port}: they need different ports`]);
  }
  const problem = securityProblem(config);
  if (problem !== undefined) throw new ConfigError([problem]);
  return config;
}

/** What is wrong with the TLS and plaintext settings taken together, if anything. */
function securityProblem(config: ServiceConfig): string | undefined {
  const { tlsCert, tlsKey, tlsClientCa } = config;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    return tlsCert === undefined
      ? `--tls-key ${formatValue(tlsKey)} is set but --tls-cert is not: TLS needs both (or neither)`
      : `--tls-cert ${formatValue(tlsCert)} is set but --tls-key is not: TLS needs both (or neither)`;
  }
  if (tlsClientCa !== undefined && tlsCert === undefined) {
    return `--tls-client-ca ${formatValue(tlsClientCa)} needs --tls-cert and --tls-key: mutual TLS is TLS first`;
  }
  if (tlsCert !== undefined && tlsKey !== undefined) {
    if (config.insecure) return '--insecure allows plaintext, but --tls-cert is set: drop one of them';
    try {
      readIdentity(tlsCert, tlsKey);
    } catch (error) {
      return (error as Error).message;
    }
    return undefined;
  }
  if (!isLoopbackHost(config.host) && !config.insecure) return plaintextRefusal(config.host);
  return undefined;
}

/** Parses `argv` and `env` against `specs`. Unknown flags and stray arguments are errors too. */
export function parseOptions<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): OptionValues<S> {
  const issues: string[] = [];
  const byFlag = new Map<string, string>(Object.entries(specs).map(([key, spec]) => [spec.flag, key]));
  const fromFlags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      issues.push(`unexpected argument ${formatValue(arg)}`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const key = byFlag.get(flag);
    if (key === undefined) {
      issues.push(`unknown flag ${formatValue(flag)}; known flags: ${[...byFlag.keys()].join(', ')}`);
      if (eq === -1 && i + 1 < argv.length && !argv[i + 1].startsWith('--')) i++;
      continue;
    }
    let value: string;
    if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else if (specs[key].switch) {
      value = 'true';
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      value = argv[++i];
    } else {
      issues.push(`${flag} needs a value`);
      continue;
    }
    const values = fromFlags.get(key) ?? [];
    values.push(value);
    fromFlags.set(key, values);
  }

  const result: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const flagged = fromFlags.get(key);
    const envText = env[spec.env];
    let raw: string | readonly string[] | undefined;
    let source: string;
    if (flagged) {
      raw = spec.list ? flagged.flatMap(splitList) : flagged[flagged.length - 1];
      source = spec.flag;
    } else if (envText !== undefined && envText !== '') {
      raw = spec.list ? splitList(envText) : envText;
      source = `${spec.env} (environment; flag ${spec.flag})`;
    } else {
      raw = spec.default;
      source = `${spec.flag} default`;
    }
    if (raw === undefined) {
      issues.push(`${spec.flag} (or ${spec.env}) is required: ${spec.description}`);
      continue;
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) {
      result[key] = parsed.data;
    } else {
      // One message per value: a value that breaks several rules is reported by the first.
      const seen = new Set<string>();
      for (const issue of parsed.error.issues) {
        const at = String(issue.path[0] ?? '');
        if (seen.has(at)) continue;
        seen.add(at);
        const value = typeof raw === 'string' ? raw : raw[Number(at)];
        issues.push(`${source} ${formatValue(value)}: ${issue.message}`);
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return result as OptionValues<S>;
}

function splitList(text: string): string[] {
  return text.split(path.delimiter).filter((item) => item !== '');
}

/**
 * The `--help` text of `rnas serve <name>`: usage, what the service does, then every flag it
 * takes (the common ones with the service's ports as defaults, then its own).
 */
export function serviceHelp(help: {
  name: string;
  about: string;
  ports: { port: number; metricsPort: number };
  options: OptionSpecs;
}): string {
  return [
    `usage: rnas serve ${help.name} [flags]`,
    '',
    help.about,
    'Each flag can also be set by the environment variable beside it; the flag wins.',
    '',
    describeOptions({
      ...SERVICE_OPTIONS,
      port: { ...SERVICE_OPTIONS.port, default: String(help.ports.port) },
      metricsPort: { ...SERVICE_OPTIONS.metricsPort, default: String(help.ports.metricsPort) },
      ...help.options,
    }),
    '',
  ].join('\n');
}

/** `--flag  ENV  description` lines for a `--help` text. */
export function describeOptions(specs: OptionSpecs): string {
  const all = Object.values(specs);
  // Columns as wide as the longest flag and variable, so a long service-specific flag stays aligned.
  const flagWidth = Math.max(...all.map((spec) => spec.flag.length)) + 2;
  const envWidth = Math.max(...all.map((spec) => spec.env.length)) + 2;
  return all
    .map((spec) => {
      const fallback =
        spec.default === undefined
          ? 'required'
          : spec.default === ''
            ? 'not set'
            : `default ${formatValue(spec.default)}`;
      return `  ${spec.flag.padEnd(flagWidth)}${spec.env.padEnd(envWidth)}${spec.description} (${fallback})`;
    })
    .join('\n');
}
