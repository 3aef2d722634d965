// Certificates for the TLS tests, made on the spot with the openssl command line: a CA, server
// certificates for 127.0.0.1 and localhost, client certificates with a common name. P-256 keys,
// valid for a day.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface PemPair {
  /** Certificate file (PEM). */
  cert: string;
  /** Its unencrypted private key (PEM). */
  key: string;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA `name` in `dir` (`<name>.pem`, `<name>.key`). */
export function makeCa(dir: string, name: string): PemPair {
  const pair = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  openssl(
    ['req', '-x509', ...KEY, '-keyout', pair.key, '-out', pair.cert, '-days', '1', '-subj', `/CN=${name}`],
    dir,
  );
  return pair;
}

/**
 * A certificate `name` signed by `ca`: for a server (subject alternative names 127.0.0.1 and
 * localhost) or a client (common name `cn`).
 */
export function makeCert(
  dir: string,
  name: string,
  ca: PemPair,
  options: { cn: string; usage: 'server' | 'client' },
): PemPair {
  const pair = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const extensions = path.join(dir, `${name}.ext`);
  writeFileSync(
    extensions,
    options.usage === 'server'
      ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
      : 'extendedKeyUsage=clientAuth\n',
  );
  openssl(['req', ...KEY, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${options.cn}`], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      pair.cert,
      '-days',
      '1',
      '-extfile',
      extensions,
    ],
    dir,
  );
  return pair;
}
