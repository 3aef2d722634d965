// The credentials a service presents to its peers (--peer-tls-ca, --peer-tls-cert/--peer-tls-key,
// --peer-token-file): checked when the configuration loads (errors name the flag and the path,
// never the token), used by clients over real TLS and mutual TLS on 127.0.0.1, and re-read when
// the files change, keeping the last good value when a changed file is unusable.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { InferenceServiceService, type ListModelsResponse } from '@rnas/proto';
import { newToken, tokenEntryLine } from './auth';
import { createClient } from './client';
import {
  checkPeerConfig,
  ConfigError,
  parseOptions,
  PEER_OPTIONS,
  peerSettings,
  type PeerConfig,
} from './config';
import { UnimplementedError } from './errors';
import type { ServiceHandlers } from './handlers';
import { PeerCredentials, PeerTokenError, readPeerToken } from './peer';
import { createServer, type GrpcServer, type ServerOptions } from './server';
import { makeCa, makeCert, type PemPair } from './test-pki';
import { callFailure, memoryLogger } from './testing';

jest.setTimeout(60_000);

let dir: string;
let ca: PemPair;
let otherCa: PemPair;
let server: PemPair;
let clientCa: PemPair;
let peerCert: PemPair;
const servers: GrpcServer[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-peer-'));
  ca = makeCa(dir, 'ca');
  otherCa = makeCa(dir, 'other-ca');
  server = makeCert(dir, 'server', ca, { cn: 'localhost', usage: 'server' });
  clientCa = makeCa(dir, 'client-ca');
  peerCert = makeCert(dir, 'peer', clientCa, { cn: 'rnas-search', usage: 'client' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.shutdown()));
});

/** A server whose ListModels answers `subject|role` of its caller. */
async function start(options: Partial<ServerOptions>): Promise<string> {
  const handlers: Record<string, unknown> = {};
  for (const method of Object.keys(InferenceServiceService)) {
    handlers[method] = () => {
      throw new UnimplementedError(method);
    };
  }
  handlers.listModels = (_request: unknown, context: { principal: { subject: string; role: string } }) => ({
    models: [
      { name: `${context.principal.subject}|${context.principal.role}`, servingVersion: 0, versions: [] },
    ],
  });
  const created = createServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: null,
    shutdownSignals: [],
    logger: memoryLogger('peer-test').logger,
    ...options,
  });
  servers.push(created);
  created.addService(InferenceServiceService, handlers as ServiceHandlers<typeof InferenceServiceService>);
  return `127.0.0.1:${(await created.start()).port}`;
}

/** Who the server says calls with `peer`'s credentials, through a fresh client. */
async function whoAmI(address: string, peer: PeerCredentials): Promise<string> {
  const client = createClient(InferenceServiceService, address, {
    ...peer.clientOptions(),
    defaultDeadlineMs: 5000,
  });
  try {
    return ((await client.listModels({})) as ListModelsResponse).models[0].name;
  } finally {
    client.close();
  }
}

function peerConfig(argv: string[], env: Record<string, string> = {}): PeerConfig {
  const config = parseOptions(PEER_OPTIONS, argv, env);
  checkPeerConfig(config);
  return config;
}

function issues(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    peerConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function tokenFile(name: string, token: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${token}\n`);
  return file;
}

describe('peer credentials', () => {
  it('default to plaintext and no token', async () => {
    const config = peerConfig([]);
    expect(peerSettings(config)).toEqual({
      tls: false,
      caFile: undefined,
      certFile: undefined,
      keyFile: undefined,
      tokenFile: undefined,
    });
    const peer = new PeerCredentials(peerSettings(config));
    expect(peer.tls().tls).toBeUndefined();
    expect(peer.token()).toBeUndefined();
    expect(await whoAmI(await start({}), peer)).toBe('anonymous|admin');
  });

  it('call a TLS server with a bearer token from the file, and a mutual-TLS server with the client certificate', async () => {
    const token = newToken();
    const tokens = path.join(dir, 'tokens.jsonl');
    writeFileSync(
      tokens,
      `${tokenEntryLine(token, 'rnas-training', 'admin')}\n${JSON.stringify({ subject: 'rnas-search', role: 'admin' })}\n`,
    );
    const tls = { certFile: server.cert, keyFile: server.key };
    const withToken = await start({ tls, auth: { tokensFile: tokens } });
    const file = tokenFile('peer-token', token);
    // Environment variables work as the flags do.
    const fromEnv = peerConfig([], { RNAS_PEER_TLS_CA: ca.cert, RNAS_PEER_TOKEN_FILE: file });
    expect(await whoAmI(withToken, new PeerCredentials(peerSettings(fromEnv)))).toBe('rnas-training|admin');

    // Without the token, or with TLS trusting another CA, the call does not get through.
    const noToken = new PeerCredentials(peerSettings(peerConfig(['--peer-tls-ca', ca.cert])));
    expect((await callFailure(whoAmI(withToken, noToken))).code).toBe(status.UNAUTHENTICATED);
    const wrongCa = new PeerCredentials(peerSettings(peerConfig(['--peer-tls-ca', otherCa.cert])));
    expect((await callFailure(whoAmI(withToken, wrongCa))).code).toBe(status.UNAVAILABLE);

    // Mutual TLS: the client certificate's subject, given its role by the token file.
    const mutual = await start({
      tls: { ...tls, clientCaFile: clientCa.cert },
      auth: { tokensFile: tokens },
    });
    const withCert = peerConfig([
      ...['--peer-tls-ca', ca.cert, '--peer-tls-cert', peerCert.cert, '--peer-tls-key', peerCert.key],
    ]);
    expect(await whoAmI(mutual, new PeerCredentials(peerSettings(withCert)))).toBe('rnas-search|admin');
    expect((await callFailure(whoAmI(mutual, noToken))).code).toBe(status.UNAVAILABLE);
  });

  it('re-read a token file that changed at the next call, and keep the last good token when it is unusable', async () => {
    const first = newToken();
    const second = newToken();
    const file = tokenFile('rotating-token', first);
    const problems: string[] = [];
    const peer = new PeerCredentials({ tls: false, tokenFile: file }, (problem) => problems.push(problem));
    expect(peer.token()).toBe(first);
    // A different inode, as a Kubernetes Secret update swaps the file.
    rmSync(file);
    writeFileSync(file, second);
    expect(peer.token()).toBe(second);
    writeFileSync(file, '');
    expect(peer.token()).toBe(second);
    expect(peer.token()).toBe(second);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toBe(
      `--peer-token-file ${file}: the file is empty: it should hold the bearer token itself; still sending the previous token`,
    );
    rmSync(file);
    writeFileSync(file, `  ${first}\r\n`);
    expect(peer.token()).toBe(first);
  });

  it('open new channels with TLS files that changed, and keep the previous ones when a changed file is not PEM', () => {
    const caFile = path.join(dir, 'rotating-ca.pem');
    writeFileSync(caFile, readFileSync(ca.cert));
    const problems: string[] = [];
    const peer = new PeerCredentials({ tls: true, caFile }, (problem) => problems.push(problem));
    const before = peer.tls();
    expect(before.tls?.ca?.equals(readFileSync(ca.cert))).toBe(true);
    expect(peer.tls().version).toBe(before.version);
    rmSync(caFile);
    writeFileSync(caFile, readFileSync(otherCa.cert));
    const after = peer.tls();
    expect(after.version).not.toBe(before.version);
    expect(after.tls?.ca?.equals(readFileSync(otherCa.cert))).toBe(true);
    rmSync(caFile);
    writeFileSync(caFile, 'not a certificate');
    expect(peer.tls()).toEqual(after);
    expect(problems).toEqual([
      expect.stringMatching(
        /^--peer-tls-ca .*rotating-ca\.pem: no PEM certificate .*; new connections keep the previous TLS files$/,
      ),
    ]);
  });
});

describe('the peer configuration', () => {
  it('names the flag and the path of a token file that is missing, empty, or not one token, never quoting it', () => {
    const missing = path.join(dir, 'no-such-token');
    expect(issues(['--peer-token-file', missing])).toEqual([
      expect.stringMatching(/^--peer-token-file ".*no-such-token": cannot read the file: ENOENT/),
    ]);
    expect(issues(['--peer-token-file', tokenFile('empty-token', '')])).toEqual([
      expect.stringMatching(/^--peer-token-file ".*empty-token": the file is empty/),
    ]);
    // A token-file line pasted by mistake: a secret may be in it, so it is not echoed.
    const line = tokenEntryLine(newToken(), 'x', 'user');
    const pasted = issues(['--peer-token-file', tokenFile('pasted-line', line)]);
    expect(pasted).toEqual([
      expect.stringMatching(/^--peer-token-file ".*pasted-line": not one bearer token .*--auth-tokens/),
    ]);
    expect(pasted[0]).not.toContain(line);
    expect(issues([], { RNAS_PEER_TOKEN_FILE: dir })).toEqual([
      expect.stringMatching(
        /^RNAS_PEER_TOKEN_FILE \(environment; flag --peer-token-file\) ".*": not a regular file$/,
      ),
    ]);
    expect(() => readPeerToken(dir)).toThrow(PeerTokenError);
  });

  it('needs a peer certificate with its key, a key of that certificate, and PEM files', () => {
    expect(issues(['--peer-tls-cert', peerCert.cert])).toEqual([
      `--peer-tls-cert ${JSON.stringify(peerCert.cert)} is set but --peer-tls-key is not: a client certificate needs both`,
    ]);
    expect(issues(['--peer-tls-key', peerCert.key])).toEqual([
      `--peer-tls-key ${JSON.stringify(peerCert.key)} is set but --peer-tls-cert is not: a client certificate needs both`,
    ]);
    expect(issues(['--peer-tls-cert', peerCert.cert, '--peer-tls-key', server.key])).toEqual([
      expect.stringMatching(
        /^--peer-tls-key .*server\.key: the key does not belong to the certificate in .*peer\.pem/,
      ),
    ]);
    const garbage = path.join(dir, 'garbage.pem');
    writeFileSync(garbage, 'hello');
    expect(issues(['--peer-tls-ca', garbage])).toEqual([
      expect.stringMatching(/^--peer-tls-ca ".*garbage\.pem": no PEM certificate/),
    ]);
    expect(issues(['--peer-tls=maybe'])).toEqual([
      expect.stringMatching(/^--peer-tls "maybe": expected true or false/),
    ]);
  });
});
