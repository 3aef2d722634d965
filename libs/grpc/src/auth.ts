// Authentication of the services: bearer tokens checked against a token file of SHA-256 hashes
// (`--auth-tokens`), and under mutual TLS the client certificate's subject. One grpc-js server
// interceptor covers every service the server routes (the wrapped ones, health, reflection, the
// OIP endpoint): a call without a valid credential ends UNAUTHENTICATED before any handler sees
// it, except on the exempt services (health and reflection by default). The principal it found is
// handed to the wrapped handlers as `CallContext.principal`. Tokens are never logged and never
// echoed in a status.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import {
  ServerInterceptingCall,
  status,
  type Metadata,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import { z } from 'zod';
import { UnauthenticatedError } from './errors';
import type { Logger } from './logger';
import type { Principal, Role } from './principal';
import { FilePoller } from './tls';

/** The services callable without a credential unless `--auth-exempt` says otherwise. */
export const DEFAULT_AUTH_EXEMPT: readonly string[] = [
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

/** The largest token file read: far beyond any real table, small enough to parse at once. */
export const MAX_TOKEN_FILE_BYTES = 1024 * 1024;
/** The longest `authorization` value looked at; longer ones are refused unread. */
export const MAX_AUTHORIZATION_CHARS = 4096;
/** How often the token file is looked at for a change [1 s]. */
export const DEFAULT_AUTH_POLL_MS = 1000;

/**
 * The caller of an exempt service (health, reflection) that brought no valid credential while
 * authentication is on: a user of no one's jobs, never an admin.
 */
export const GUEST: Principal = Object.freeze({ subject: 'anonymous', role: 'user', authenticated: false });

const subjectText = z
  .string()
  .min(1, { error: 'expected a non-empty subject' })
  .max(256, { error: 'a subject is at most 256 characters' })
  .regex(/^[^\p{C}\s](?:[^\p{C}]*[^\p{C}\s])?$/u, {
    error: 'a subject has no control characters and no leading or trailing spaces',
  });

/** One line of the token file. */
export const tokenEntrySchema = z.strictObject({
  /** SHA-256 of the token, 64 lowercase hex digits; absent: the entry only gives a certificate subject its role. */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, { error: 'expected the SHA-256 of the token as 64 lowercase hex digits' })
    .optional(),
  subject: subjectText,
  role: z.enum(['user', 'admin'], { error: "expected 'user' or 'admin'" }),
});

export type TokenEntry = z.infer<typeof tokenEntrySchema>;

/** The parsed token file: the token hashes and the role of every subject named. */
export interface TokenTable {
  tokens: { hash: Buffer; subject: string; role: Role }[];
  roles: Map<string, Role>;
}

/** A token file that cannot be used; the message names the file, the line and what is wrong (never a token). */
export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFileError';
  }
}

/**
 * Parses a token file: one JSON object per line (`{"sha256":"<hex>","subject":"alice","role":"user"}`),
 * blank lines and lines starting with `#` ignored. A hash listed twice, or a subject given two
 * roles, is an error.
 */
export function parseTokenFile(text: string, file = 'the token file'): TokenTable {
  const tokens: TokenTable['tokens'] = [];
  const roles = new Map<string, Role>();
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = `${file} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // The line may hold a token pasted by mistake: it is not quoted back.
      throw new TokenFileError(
        `${at}: not a JSON object (expected {"sha256":"<64 hex>","subject":"<name>","role":"user"|"admin"})`,
      );
    }
    const parsed = tokenEntrySchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length > 0 ? issue.path.join('.') : 'entry';
      throw new TokenFileError(`${at}: ${field}: ${issue.message}`);
    }
    const entry = parsed.data;
    const role = roles.get(entry.subject);
    if (role !== undefined && role !== entry.role) {
      throw new TokenFileError(
        `${at}: subject ${JSON.stringify(entry.subject)} has role ${role} on an earlier line`,
      );
    }
    roles.set(entry.subject, entry.role);
    if (entry.sha256 !== undefined) {
      const earlier = seen.get(entry.sha256);
      if (earlier !== undefined) throw new TokenFileError(`${at}: the same sha256 as line ${earlier}`);
      seen.set(entry.sha256, i + 1);
      tokens.push({ hash: Buffer.from(entry.sha256, 'hex'), subject: entry.subject, role: entry.role });
    }
  }
  return { tokens, roles };
}

/** Reads and parses a token file; TokenFileError names the path and what is wrong. */
export function readTokenFile(file: string): TokenTable {
  let size: number;
  try {
    const info = statSync(file);
    if (!info.isFile()) throw new TokenFileError(`${file}: not a regular file`);
    size = info.size;
  } catch (error) {
    if (error instanceof TokenFileError) throw error;
    throw new TokenFileError(`${file}: cannot read the file: ${(error as Error).message}`);
  }
  if (size > MAX_TOKEN_FILE_BYTES) {
    throw new TokenFileError(
      `${file}: ${size} bytes, more than the ${MAX_TOKEN_FILE_BYTES} a token file may have`,
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new TokenFileError(`${file}: cannot read the file: ${(error as Error).message}`);
  }
  if (text.length > MAX_TOKEN_FILE_BYTES) {
    throw new TokenFileError(`${file}: more than the ${MAX_TOKEN_FILE_BYTES} bytes a token file may have`);
  }
  return parseTokenFile(text, file);
}

/** The hex SHA-256 of a token, as the token file lists it. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token (32 bytes, base64url: 43 characters, all valid in a bearer header). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The token file line of `token` for `subject` with `role`. */
export function tokenEntryLine(token: string, subject: string, role: Role): string {
  const entry = tokenEntrySchema.parse({ sha256: hashToken(token), subject, role });
  return JSON.stringify(entry);
}

/** The TLS state of a call's connection, as grpc-js reports it (a verified peer certificate, if any). */
export type AuthContext = ReturnType<ServerInterceptingCallInterface['getAuthContext']>;

/** RFC 6750's b64token: what a bearer token may be made of. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** Where a call's credentials come from: its metadata and its connection's TLS state. */
export interface CallCredentials {
  metadata: Metadata;
  authContext: AuthContext;
}

export interface AuthenticatorOptions {
  /** The token file (`--auth-tokens`); absent: bearer tokens are refused. */
  tokensFile?: string;
  /** Whether connections carry a verified client certificate (`--tls-client-ca`). */
  clientCertificates: boolean;
  /** Services callable without a credential [DEFAULT_AUTH_EXEMPT]. */
  exempt?: readonly string[];
  /** How often the token file is polled [1 s]. */
  pollMs?: number;
  logger: Logger;
}

/** Checks credentials against the token table (reloaded when the file changes) and client certificates. */
export class Authenticator {
  private table: TokenTable;
  private readonly exempt: Set<string>;
  private readonly poller: FilePoller | undefined;
  private readonly principals = new WeakMap<Metadata, Principal>();
  private lastProblem: string | undefined;

  constructor(private readonly options: AuthenticatorOptions) {
    this.exempt = new Set(options.exempt ?? DEFAULT_AUTH_EXEMPT);
    const file = options.tokensFile;
    this.table = file === undefined ? { tokens: [], roles: new Map() } : readTokenFile(file);
    if (file !== undefined) {
      options.logger.info({ tokensFile: file, tokens: this.table.tokens.length }, 'token file loaded');
      this.poller = new FilePoller([file], () => this.reload(), options.pollMs ?? DEFAULT_AUTH_POLL_MS);
    }
  }

  /** Re-reads the token file now; keeps the current table (and logs why) if the new file is not usable. */
  reload(): void {
    const file = this.options.tokensFile;
    if (file === undefined) return;
    try {
      this.table = readTokenFile(file);
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== this.lastProblem) {
        this.options.logger.error(
          { problem },
          'token file changed but cannot be used: keeping the previous tokens',
        );
      }
      this.lastProblem = problem;
      return;
    }
    this.lastProblem = undefined;
    this.options.logger.info({ tokensFile: file, tokens: this.table.tokens.length }, 'token file reloaded');
  }

  /** Stops watching the token file. */
  close(): void {
    this.poller?.stop();
  }

  /** Who the credentials of a call authenticate, or why they do not. */
  authenticate({ metadata, authContext }: CallCredentials): Principal | UnauthenticatedError {
    const values = metadata.get('authorization');
    if (values.length > 1) return new UnauthenticatedError('more than one authorization header');
    if (values.length === 1) return this.bearer(values[0]);
    const subject = certificateSubject(authContext);
    if (subject !== undefined && this.options.clientCertificates) {
      return { subject, role: this.table.roles.get(subject) ?? 'user', authenticated: true };
    }
    return new UnauthenticatedError(
      this.options.tokensFile === undefined
        ? 'a client certificate is required'
        : 'no credentials: send the header authorization: Bearer <token> (rnas --token, or RNAS_TOKEN)',
    );
  }

  private bearer(value: string | Buffer): Principal | UnauthenticatedError {
    if (typeof value !== 'string') return new UnauthenticatedError('the authorization header is not text');
    if (value.length > MAX_AUTHORIZATION_CHARS) {
      return new UnauthenticatedError(
        `the authorization header has ${value.length} characters, more than ${MAX_AUTHORIZATION_CHARS}`,
      );
    }
    if (this.options.tokensFile === undefined) {
      return new UnauthenticatedError('this service takes no bearer tokens (it runs without --auth-tokens)');
    }
    const match = BEARER.exec(value);
    if (!match) {
      return new UnauthenticatedError(
        /^bearer *$/i.test(value)
          ? 'the bearer token is empty'
          : 'the authorization header is not "Bearer <token>" with a token of letters, digits and -._~+/=',
      );
    }
    const hash = createHash('sha256').update(match[1], 'utf8').digest();
    // Every entry is compared, in constant time, whatever matched: the time says nothing about the table.
    let found: TokenTable['tokens'][number] | undefined;
    for (const entry of this.table.tokens) {
      if (timingSafeEqual(entry.hash, hash)) found = entry;
    }
    if (!found) return new UnauthenticatedError('unknown bearer token');
    return { subject: found.subject, role: found.role, authenticated: true };
  }

  /**
   * The principal the interceptor recorded for a call's metadata (a wrapped handler's), or the
   * error to end it with if none was (which the interceptor prevents).
   */
  principalOf(metadata: Metadata): Principal | UnauthenticatedError {
    return this.principals.get(metadata) ?? new UnauthenticatedError('the call was not authenticated');
  }

  /** The server interceptor: authenticates every call before its handler sees it. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    const service = /^\/([^/]+)\//.exec(method.path)?.[1] ?? '';
    const exempt = this.exempt.has(service);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            const result = this.authenticate({ metadata, authContext: call.getAuthContext() });
            if (result instanceof UnauthenticatedError) {
              if (!exempt) {
                this.options.logger.info(
                  { method: method.path, peer: call.getPeer(), reason: result.message },
                  'unauthenticated call refused',
                );
                call.sendStatus({ code: status.UNAUTHENTICATED, details: result.message });
                return;
              }
              this.principals.set(metadata, GUEST);
            } else {
              this.principals.set(metadata, result);
            }
            forward(metadata);
          },
        }),
    });
  };
}

/** The common name of a verified client certificate, if the connection has one. */
export function certificateSubject(authContext: AuthContext): string | undefined {
  const cn = authContext.sslPeerCertificate?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}
