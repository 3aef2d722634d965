// The credentials a service presents when it calls another one: the search service calling the
// training services' EvaluatePair (--evaluators), the training service calling the search
// service's GetSearch (--search-addr). TLS to the peer (its CA, and a client certificate for
// mutual TLS) and a bearer token read from a file (--peer-token-file). Every file is read and
// checked when the configuration is loaded, then looked at again on every use: a rotated file
// (cert-manager, a Kubernetes Secret) is picked up by the next call or the next channel, and one
// that cannot be used keeps the last good credentials (reported once). The token is never logged
// and never quoted in an error.
import { readFileSync, statSync } from 'node:fs';
import { MAX_AUTHORIZATION_CHARS } from './auth';
import type { ClientOptions, ClientTls } from './client';
import { formatValue } from './errors';
import { fileStamp, readCaBundle, readIdentity } from './tls';

/**
 * Where a service's peer credentials come from: plain data, so it crosses into a worker thread
 * (a search's remote evaluators run in its worker), where a PeerCredentials reads the files.
 */
export interface PeerSettings {
  /** TLS to the peers (trusting the system's CAs unless `caFile`); false: plaintext. */
  tls: boolean;
  /** PEM CA certificates the peers' certificates must chain to (--peer-tls-ca). */
  caFile?: string;
  /** PEM client certificate and its key, both or neither (--peer-tls-cert, --peer-tls-key). */
  certFile?: string;
  keyFile?: string;
  /** The file holding the bearer token sent to the peers (--peer-token-file). */
  tokenFile?: string;
}

/** Plaintext and no token: what a service sends its peers unless told otherwise. */
export const NO_PEER_CREDENTIALS: PeerSettings = Object.freeze({ tls: false });

/** The flags the settings come from, for the messages that name them. */
export const PEER_FLAGS = {
  ca: '--peer-tls-ca',
  cert: '--peer-tls-cert',
  key: '--peer-tls-key',
  token: '--peer-token-file',
} as const;

/** A peer token file that cannot be used: names the flag, the path and why, never the content. */
export class PeerTokenError extends Error {
  constructor(
    readonly flag: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${flag} ${file}: ${reason}`);
    this.name = 'PeerTokenError';
  }
}

/** RFC 6750's b64token, as the servers take it. */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The bearer token in `file`: its whole content, surrounding white space (a final newline)
 * removed. PeerTokenError when the file cannot be read, is empty, or does not hold one token.
 */
export function readPeerToken(file: string, flag: string = PEER_FLAGS.token): string {
  let text: string;
  try {
    const info = statSync(file);
    if (!info.isFile()) throw new PeerTokenError(flag, file, 'not a regular file');
    // A token file is a few dozen bytes: refuse to read a large file given by mistake.
    if (info.size > MAX_AUTHORIZATION_CHARS + 16) {
      throw new PeerTokenError(
        flag,
        file,
        `${info.size} bytes: a bearer token is at most ${MAX_AUTHORIZATION_CHARS} characters`,
      );
    }
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if (error instanceof PeerTokenError) throw error;
    throw new PeerTokenError(flag, file, `cannot read the file: ${(error as Error).message}`);
  }
  if (text === '') {
    throw new PeerTokenError(flag, file, 'the file is empty: it should hold the bearer token itself');
  }
  if (text.length > MAX_AUTHORIZATION_CHARS || !BEARER_TOKEN.test(text)) {
    // The content may be a secret: it is not quoted back.
    throw new PeerTokenError(
      flag,
      file,
      'not one bearer token (letters, digits and -._~+/ then any =; the token itself, as `rnas token new` ' +
        'prints it, not a line of an --auth-tokens file)',
    );
  }
  return text;
}

/** The TLS settings of a channel to the peers, from the files of `settings`; undefined: plaintext. */
export function readPeerTls(settings: PeerSettings): ClientTls | undefined {
  const { caFile, certFile, keyFile } = settings;
  if (!settings.tls && caFile === undefined && certFile === undefined && keyFile === undefined) {
    return undefined;
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error(peerIdentityProblem(certFile, keyFile));
  }
  const tls: ClientTls = {};
  if (caFile !== undefined) tls.ca = readCaBundle(PEER_FLAGS.ca, caFile);
  if (certFile !== undefined && keyFile !== undefined) {
    const identity = readIdentity(certFile, keyFile, { cert: PEER_FLAGS.cert, key: PEER_FLAGS.key });
    tls.cert = identity.certificate;
    tls.key = identity.privateKey;
  }
  return tls;
}

/** The message for a client certificate without its key or a key without its certificate. */
export function peerIdentityProblem(certFile: string | undefined, keyFile: string | undefined): string {
  return certFile === undefined
    ? `${PEER_FLAGS.key} ${formatValue(keyFile)} is set but ${PEER_FLAGS.cert} is not: a client certificate needs both`
    : `${PEER_FLAGS.cert} ${formatValue(certFile)} is set but ${PEER_FLAGS.key} is not: a client certificate needs both`;
}

/**
 * A service's credentials towards its peers. Constructing reads every file (PemError or
 * PeerTokenError naming the flag and the path); afterwards `token()` and `tls()` look at the files
 * again on each use and re-read those that changed, keeping the last good value when a changed
 * file cannot be used (`onProblem` hears why, once per distinct problem; never the token).
 */
export class PeerCredentials {
  private tlsStamps: string[];
  private tlsValue: ClientTls | undefined;
  private tlsVersion = 0;
  private tokenStamp: string | undefined;
  private tokenValue: string | undefined;
  private lastProblem: string | undefined;

  constructor(
    readonly settings: PeerSettings = NO_PEER_CREDENTIALS,
    private readonly onProblem: (problem: string) => void = () => undefined,
  ) {
    this.tlsStamps = this.tlsFiles().map(fileStamp);
    this.tlsValue = readPeerTls(settings);
    if (settings.tokenFile !== undefined) {
      this.tokenStamp = fileStamp(settings.tokenFile);
      this.tokenValue = readPeerToken(settings.tokenFile);
    }
  }

  /** Whether calls to the peers carry a bearer token. */
  get hasToken(): boolean {
    return this.settings.tokenFile !== undefined;
  }

  /** The token for the next call (the file re-read if it changed); undefined without --peer-token-file. */
  token(): string | undefined {
    const file = this.settings.tokenFile;
    if (file === undefined) return undefined;
    const stamp = fileStamp(file);
    if (stamp !== this.tokenStamp) {
      try {
        this.tokenValue = readPeerToken(file);
        this.tokenStamp = stamp;
        this.lastProblem = undefined;
      } catch (error) {
        this.report(`${(error as Error).message}; still sending the previous token`);
      }
    }
    return this.tokenValue;
  }

  /**
   * The TLS of a new channel to a peer (the files re-read if any changed), and a version that
   * changes with it: a caller holding channels opens new ones when the version is not theirs.
   */
  tls(): { tls: ClientTls | undefined; version: number } {
    const stamps = this.tlsFiles().map(fileStamp);
    if (stamps.some((stamp, i) => stamp !== this.tlsStamps[i])) {
      try {
        this.tlsValue = readPeerTls(this.settings);
        this.tlsStamps = stamps;
        this.tlsVersion++;
        this.lastProblem = undefined;
      } catch (error) {
        this.report(`${(error as Error).message}; new connections keep the previous TLS files`);
      }
    }
    return { tls: this.tlsValue, version: this.tlsVersion };
  }

  /** The options of a client to a peer: its TLS now, and the token asked at every call. */
  clientOptions(): Pick<ClientOptions, 'tls' | 'token'> {
    return { tls: this.tls().tls, token: this.hasToken ? () => this.token() : undefined };
  }

  /** A line for logs: what the peers are called with (never the token). */
  describe(): Record<string, unknown> {
    const { tls, caFile, certFile, tokenFile } = this.settings;
    return {
      peerTls: tls || caFile !== undefined || certFile !== undefined,
      peerMutualTls: certFile !== undefined,
      peerToken: tokenFile !== undefined,
    };
  }

  private tlsFiles(): string[] {
    const { caFile, certFile, keyFile } = this.settings;
    return [caFile, certFile, keyFile].filter((file): file is string => file !== undefined);
  }

  private report(problem: string): void {
    if (problem === this.lastProblem) return;
    this.lastProblem = problem;
    this.onProblem(problem);
  }
}

/**
 * The advice appended when a peer refused this service's credentials (UNAUTHENTICATED or
 * PERMISSION_DENIED): which flags give them, and what role the peer needs to see.
 */
export function peerCredentialsAdvice(service: string, peer: string): string {
  return (
    `the ${peer} service refused the ${service} service's credentials: give --peer-token-file a token ` +
    `of an admin subject in the ${peer} service's --auth-tokens (or --peer-tls-cert a client ` +
    'certificate whose subject it lists as admin)'
  );
}
