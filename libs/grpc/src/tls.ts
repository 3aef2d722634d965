// TLS of the services: PEM files read and checked at start (a bad one is a configuration error
// naming the flag and the path), then polled and swapped in while the server runs, through
// grpc-js's CertificateProvider interface (`experimental.createCertificateProviderServerCredentials`).
// grpc-js hands every update to the HTTP/2 server's `setSecureContext`: new connections get the new
// certificate, established ones keep theirs, nothing is dropped or rebound. Unlike grpc-js's own
// FileWatcherCertificateProvider, a file that is missing, half-written or does not match its key
// keeps the last good pair (and logs why) instead of refusing every new connection.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from './logger';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** How often the PEM files are looked at for a change [1 s]. */
export const DEFAULT_TLS_POLL_MS = 1000;

export interface TlsFiles {
  /** The server's certificate chain (PEM). */
  certFile: string;
  /** Its private key (PEM). */
  keyFile: string;
  /** CA certificates (PEM) that client certificates must chain to; set: mutual TLS, a client certificate is required. */
  clientCaFile?: string;
}

/** A PEM file that cannot be used, naming the flag it came from and its path. */
export class PemError extends Error {
  constructor(
    readonly flag: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${flag} ${file}: ${reason}`);
    this.name = 'PemError';
  }
}

function readPem(flag: string, file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new PemError(flag, file, `cannot read the file: ${(error as Error).message}`);
  }
  if (bytes.length === 0) throw new PemError(flag, file, 'the file is empty');
  return bytes;
}

/** Checks that `pem` holds at least one X.509 certificate; returns the first. */
export function parseCertificatePem(flag: string, file: string, pem: Buffer): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new PemError(flag, file, 'no PEM certificate in the file (expected -----BEGIN CERTIFICATE-----)');
  }
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new PemError(flag, file, `not a valid PEM certificate: ${(error as Error).message}`);
  }
}

/** The server's identity from its files: certificate and key parsed, and the key matching the certificate. */
export function readIdentity(
  certFile: string,
  keyFile: string,
  flags = { cert: '--tls-cert', key: '--tls-key' },
): { certificate: Buffer; privateKey: Buffer; x509: X509Certificate } {
  const certificate = readPem(flags.cert, certFile);
  const x509 = parseCertificatePem(flags.cert, certFile, certificate);
  const privateKey = readPem(flags.key, keyFile);
  let key;
  try {
    key = createPrivateKey(privateKey);
  } catch (error) {
    throw new PemError(
      flags.key,
      keyFile,
      `not a valid unencrypted PEM private key: ${(error as Error).message}`,
    );
  }
  if (!x509.checkPrivateKey(key)) {
    throw new PemError(flags.key, keyFile, `the key does not belong to the certificate in ${certFile}`);
  }
  try {
    createSecureContext({ cert: certificate, key: privateKey });
  } catch (error) {
    throw new PemError(
      flags.cert,
      certFile,
      `TLS rejects the certificate and key: ${(error as Error).message}`,
    );
  }
  return { certificate, privateKey, x509 };
}

/** The client CA bundle, checked. */
export function readCaBundle(flag: string, file: string): Buffer {
  const pem = readPem(flag, file);
  parseCertificatePem(flag, file, pem);
  try {
    createSecureContext({ ca: pem });
  } catch (error) {
    throw new PemError(flag, file, `TLS rejects the CA certificates: ${(error as Error).message}`);
  }
  return pem;
}

/** Checks every file of `files` as the server would at start; throws PemError on the first bad one. */
export function checkTlsFiles(files: TlsFiles): void {
  readIdentity(files.certFile, files.keyFile);
  if (files.clientCaFile !== undefined) readCaBundle('--tls-client-ca', files.clientCaFile);
}

/** What identifies a file's version on disk (a Kubernetes secret update swaps a symlink: the target changes). */
export function fileStamp(file: string): string {
  try {
    const info = statSync(file);
    return `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? ''}`;
  }
}

/**
 * Polls a set of files and calls `onChange` when any of them changes on disk (inode, size, mtime
 * or ctime, following symlinks). `stop()` ends the polling; the timer never keeps the process alive.
 */
export class FilePoller {
  private stamps: string[];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly files: readonly string[],
    onChange: () => void,
    everyMs: number,
  ) {
    this.stamps = files.map(fileStamp);
    this.timer = setInterval(() => {
      const now = this.files.map(fileStamp);
      if (now.every((s, i) => s === this.stamps[i])) return;
      this.stamps = now;
      onChange();
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * A grpc-js CertificateProvider over PEM files: the server's identity (and the client CA under
 * mutual TLS) read at construction, then re-read whenever the files change. A new set is handed to
 * grpc-js only once every file parses and the key matches the certificate.
 */
export class PemFileCertificateProvider implements experimental.CertificateProvider {
  private identity: { certificate: Buffer; privateKey: Buffer };
  private ca: Buffer | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly poller: FilePoller;
  private lastProblem: string | undefined;

  constructor(
    private readonly files: TlsFiles,
    private readonly logger: Logger,
    pollMs = DEFAULT_TLS_POLL_MS,
  ) {
    const { certificate, privateKey, x509 } = readIdentity(files.certFile, files.keyFile);
    this.identity = { certificate, privateKey };
    this.ca =
      files.clientCaFile === undefined ? undefined : readCaBundle('--tls-client-ca', files.clientCaFile);
    logger.info(certificateFields(files, x509), 'TLS certificate loaded');
    const watched = [files.certFile, files.keyFile, ...(files.clientCaFile ? [files.clientCaFile] : [])];
    this.poller = new FilePoller(watched, () => this.reload(), pollMs);
  }

  /** Re-reads the files now; keeps the current set (and logs why) if the new one is not usable. */
  reload(): void {
    let next: ReturnType<typeof readIdentity>;
    let ca: Buffer | undefined;
    try {
      next = readIdentity(this.files.certFile, this.files.keyFile);
      ca =
        this.files.clientCaFile === undefined
          ? undefined
          : readCaBundle('--tls-client-ca', this.files.clientCaFile);
    } catch (error) {
      const problem = (error as Error).message;
      // A rotation writes the files one after the other: say it once, not on every poll.
      if (problem !== this.lastProblem) {
        this.logger.error(
          { problem },
          'TLS files changed but cannot be used: still serving the previous certificate',
        );
      }
      this.lastProblem = problem;
      return;
    }
    this.lastProblem = undefined;
    const sameIdentity =
      next.certificate.equals(this.identity.certificate) && next.privateKey.equals(this.identity.privateKey);
    const sameCa = ca === this.ca || (ca !== undefined && this.ca !== undefined && ca.equals(this.ca));
    if (sameIdentity && sameCa) return;
    this.identity = { certificate: next.certificate, privateKey: next.privateKey };
    this.ca = ca;
    this.logger.info(certificateFields(this.files, next.x509), 'TLS certificate reloaded');
    for (const listener of this.identityListeners) listener({ ...this.identity });
    if (ca !== undefined) for (const listener of this.caListeners) listener({ caCertificate: ca });
  }

  /** Stops watching the files. */
  close(): void {
    this.poller.stop();
  }

  // grpc-js adds its listener before the watcher that applies updates: the first update must come
  // on a later tick, as grpc-js's own provider sends it.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const ca = this.ca;
    if (ca !== undefined) process.nextTick(() => listener({ caCertificate: ca }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const identity = { ...this.identity };
    process.nextTick(() => listener(identity));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

function certificateFields(files: TlsFiles, x509: X509Certificate): Record<string, unknown> {
  return {
    certFile: files.certFile,
    subject: x509.subject.replace(/\n/g, ', '),
    validTo: x509.validTo,
    mutualTls: files.clientCaFile !== undefined,
  };
}

/** Server credentials over the provider: TLS, and with a client CA, a verified client certificate required. */
export function tlsServerCredentials(
  provider: PemFileCertificateProvider,
  mutual: boolean,
): ServerCredentials {
  return experimental.createCertificateProviderServerCredentials(provider, mutual ? provider : null, mutual);
}

/** Whether `host` (as `--host` takes it) is a loopback interface only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  if (/^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}
