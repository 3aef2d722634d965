// TLS, mutual TLS, certificate rotation, the loopback rule and bearer-token authentication, over
// real connections on 127.0.0.1, with certificates made by the openssl command line.
import { spawnSync } from 'node:child_process';
import { connect, constants as h2 } from 'node:http2';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { InferenceServiceService, type ListModelsResponse } from '@rnas/proto';
import {
  Authenticator,
  hashToken,
  MAX_TOKEN_FILE_BYTES,
  newToken,
  parseTokenFile,
  readTokenFile,
  tokenEntryLine,
} from './auth';
import { createClient, type ClientTls, type PromiseClient } from './client';
import { ConfigError, loadServiceConfig } from './config';
import { UnauthenticatedError, UnimplementedError } from './errors';
import type { ServiceHandlers } from './handlers';
import { checkHealth } from './health';
import type { Logger } from './logger';
import { createServer, type GrpcServer, type ServerOptions } from './server';
import { makeCa, makeCert, type PemPair } from './test-pki';
import { callFailure, memoryLogger } from './testing';
import { isLoopbackHost } from './tls';

jest.setTimeout(60_000);

let dir: string;
let caA: PemPair;
let serverA: PemPair;
let caB: PemPair;
let serverB: PemPair;
let clientCa: PemPair;
let alice: PemPair;
let stranger: PemPair;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-tls-'));
  caA = makeCa(dir, 'ca-a');
  serverA = makeCert(dir, 'server-a', caA, { cn: 'localhost', usage: 'server' });
  caB = makeCa(dir, 'ca-b');
  serverB = makeCert(dir, 'server-b', caB, { cn: 'localhost', usage: 'server' });
  clientCa = makeCa(dir, 'client-ca');
  alice = makeCert(dir, 'alice', clientCa, { cn: 'alice', usage: 'client' });
  // A client certificate the server's client CA did not sign.
  stranger = makeCert(dir, 'stranger', caB, { cn: 'stranger', usage: 'client' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const read = (file: string): Buffer => readFileSync(file);

/** ListModels answers with the caller's principal as `subject|role|authenticated`. */
function handlers(): ServiceHandlers<typeof InferenceServiceService> {
  const all: Record<string, unknown> = {};
  for (const method of Object.keys(InferenceServiceService)) {
    all[method] = () => {
      throw new UnimplementedError(method);
    };
  }
  all.listModels = (
    _request: unknown,
    context: { principal: { subject: string; role: string; authenticated: boolean } },
  ) => ({
    models: [
      {
        name: `${context.principal.subject}|${context.principal.role}|${context.principal.authenticated}`,
        servingVersion: 0,
        versions: [],
      },
    ],
  });
  return all as unknown as ServiceHandlers<typeof InferenceServiceService>;
}

interface Running {
  server: GrpcServer;
  address: string;
  lines: Record<string, unknown>[];
  logger: Logger;
}

const servers: GrpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.shutdown()));
});

async function start(options: Partial<ServerOptions>): Promise<Running> {
  const { logger, lines } = memoryLogger('security-test');
  const server = createServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: null,
    shutdownSignals: [],
    reloadPollMs: 50,
    shutdownGraceMs: 1000,
    logger,
    ...options,
  });
  servers.push(server);
  server.addService(InferenceServiceService, handlers());
  const { port } = await server.start();
  return { server, address: `127.0.0.1:${port}`, lines, logger };
}

/** Who the server says is calling, through a fresh client with `tls` and `token`. */
async function whoAmI(address: string, tls?: ClientTls, token?: string): Promise<string> {
  const client = createClient(InferenceServiceService, address, { tls, token, defaultDeadlineMs: 5000 });
  try {
    return ((await client.listModels({})) as ListModelsResponse).models[0].name;
  } finally {
    client.close();
  }
}

function client(address: string, tls?: ClientTls): PromiseClient<typeof InferenceServiceService> {
  return createClient(InferenceServiceService, address, { tls, defaultDeadlineMs: 5000 });
}

async function eventually(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('TLS', () => {
  it('serves calls to a client that trusts its CA, and refuses plaintext and untrusting clients', async () => {
    const { address, lines } = await start({ tls: { certFile: serverA.cert, keyFile: serverA.key } });
    expect(await whoAmI(address, { ca: read(caA.cert) })).toBe('anonymous|admin|false');
    expect(await checkHealth(address, '', { tls: { ca: read(caA.cert) } })).toBe('SERVING');
    // Plaintext to a TLS port, and TLS that trusts another CA (or only the system's), never get through.
    expect((await callFailure(whoAmI(address))).code).toBe(status.UNAVAILABLE);
    expect((await callFailure(whoAmI(address, { ca: read(caB.cert) }))).code).toBe(status.UNAVAILABLE);
    expect((await callFailure(whoAmI(address, {}))).code).toBe(status.UNAVAILABLE);
    expect(lines.find((l) => l.msg === 'serving')).toMatchObject({ tls: true, auth: false });
  });

  it('picks up a rotated certificate for new connections without dropping established ones', async () => {
    const cert = path.join(dir, 'rotating.pem');
    const key = path.join(dir, 'rotating.key');
    copyFileSync(serverA.cert, cert);
    copyFileSync(serverA.key, key);
    const { address, lines } = await start({ tls: { certFile: cert, keyFile: key } });
    const established = client(address, { ca: read(caA.cert) });
    try {
      await established.listModels({});
      // A rotation as a careless tool does it: the certificate first, the key a moment later.
      // In between the pair does not match, and the server keeps serving the old one.
      copyFileSync(serverB.cert, cert);
      await eventually(async () =>
        lines.some(
          (l) => l.msg === 'TLS files changed but cannot be used: still serving the previous certificate',
        ),
      );
      expect(await whoAmI(address, { ca: read(caA.cert) })).toBe('anonymous|admin|false');
      const next = `${key}.next`;
      copyFileSync(serverB.key, next);
      renameSync(next, key);
      await eventually(async () => {
        try {
          return (await whoAmI(address, { ca: read(caB.cert) })) === 'anonymous|admin|false';
        } catch {
          return false;
        }
      });
      expect(lines.some((l) => l.msg === 'TLS certificate reloaded')).toBe(true);
      // New connections get the new certificate: a client that trusts only the old CA fails now...
      expect((await callFailure(whoAmI(address, { ca: read(caA.cert) }))).code).toBe(status.UNAVAILABLE);
      // ...while the connection made before the rotation still carries calls.
      expect(((await established.listModels({})) as ListModelsResponse).models[0].name).toBe(
        'anonymous|admin|false',
      );
    } finally {
      established.close();
    }
  });

  it('requires a client certificate from the client CA under mutual TLS, and takes its subject as the principal', async () => {
    const tokens = path.join(dir, 'roles.jsonl');
    writeFileSync(tokens, `${JSON.stringify({ subject: 'ops', role: 'admin' })}\n`);
    const tls = { certFile: serverA.cert, keyFile: serverA.key, clientCaFile: clientCa.cert };
    const { address, lines } = await start({ tls });
    const ca = read(caA.cert);
    expect(await whoAmI(address, { ca, cert: read(alice.cert), key: read(alice.key) })).toBe(
      'alice|user|true',
    );
    expect((await callFailure(whoAmI(address, { ca }))).code).toBe(status.UNAVAILABLE);
    expect(
      (await callFailure(whoAmI(address, { ca, cert: read(stranger.cert), key: read(stranger.key) }))).code,
    ).toBe(status.UNAVAILABLE);
    expect(lines.find((l) => l.msg === 'serving')).toMatchObject({ tls: 'mutual', auth: true });

    // A token file entry without a hash gives a certificate subject its role.
    const ops = makeCert(dir, 'ops', clientCa, { cn: 'ops', usage: 'client' });
    const withRoles = await start({ tls, auth: { tokensFile: tokens } });
    expect(await whoAmI(withRoles.address, { ca, cert: read(ops.cert), key: read(ops.key) })).toBe(
      'ops|admin|true',
    );
  });
});

describe('plaintext', () => {
  it('refuses an address other hosts reach unless told --insecure, and warns when told', async () => {
    await expect(start({ host: '0.0.0.0' })).rejects.toThrow(
      /refusing to serve plaintext gRPC on 0\.0\.0\.0.*--tls-cert and --tls-key.*--insecure \(RNAS_INSECURE=1\)/,
    );
    const { lines } = await start({ host: '0.0.0.0', insecure: true });
    expect(lines.some((l) => l.level === 'warn' && /plaintext gRPC \(--insecure\)/.test(String(l.msg)))).toBe(
      true,
    );
  });

  it('is the default on loopback only', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost'])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.7', 'rnas-search', '::ffff:10.0.0.1'])
      expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('bearer tokens', () => {
  const aliceToken = newToken();
  const rootToken = newToken();
  const bobToken = newToken();
  let tokens: string;

  beforeEach(() => {
    tokens = path.join(dir, `tokens-${Date.now()}.jsonl`);
    writeFileSync(
      tokens,
      [
        '# who may call',
        tokenEntryLine(aliceToken, 'alice', 'user'),
        '',
        tokenEntryLine(rootToken, 'root', 'admin'),
      ].join('\n'),
    );
  });

  it('authenticates a listed token, refuses others with UNAUTHENTICATED, and leaves health open', async () => {
    const { address, lines } = await start({ auth: { tokensFile: tokens } });
    expect(await whoAmI(address, undefined, aliceToken)).toBe('alice|user|true');
    expect(await whoAmI(address, undefined, rootToken)).toBe('root|admin|true');
    const missing = await callFailure(whoAmI(address));
    expect(missing.code).toBe(status.UNAUTHENTICATED);
    expect(missing.details).toMatch(/no credentials.*authorization: Bearer <token>/);
    const unknown = await callFailure(whoAmI(address, undefined, newToken()));
    expect(unknown).toMatchObject({ code: status.UNAUTHENTICATED, details: 'unknown bearer token' });
    // Health (and reflection) answer without a credential, and with a bad one.
    expect(await checkHealth(address, '')).toBe('SERVING');
    expect(await checkHealth(address, 'relativenas.v1.InferenceService', { token: 'wrong' })).toBe('SERVING');
    // The refusal is logged, the tokens are not.
    expect(lines.some((l) => l.msg === 'unauthenticated call refused')).toBe(true);
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain(aliceToken);
    expect(logged).not.toContain(rootToken);
  });

  it('refuses hostile authorization values with a clear status and keeps serving', async () => {
    const { address, lines, logger } = await start({ auth: { tokensFile: tokens } });
    const refused = async (value: string): Promise<string | undefined> => {
      const c = client(address);
      try {
        const metadata = new Metadata();
        metadata.set('authorization', value);
        const error = await callFailure(c.listModels({}, { metadata }));
        expect(error.code).toBe(status.UNAUTHENTICATED);
        return error.details;
      } finally {
        c.close();
      }
    };
    // HTTP/2 drops a header value with a trailing space on the way: no credentials at all.
    expect(await refused('Bearer ')).toMatch(/^no credentials/);
    expect(await refused('Bearer')).toBe('the bearer token is empty');
    expect(await refused(`Basic ${aliceToken}`)).toMatch(/not "Bearer <token>"/);
    expect(await refused(`Bearer ${aliceToken} extra`)).toMatch(/not "Bearer <token>"/);
    const long = `Bearer ${'a'.repeat(8192)}`;
    expect(await refused(long)).toMatch(/has 8199 characters, more than 4096/);
    // A megabyte of header: the HTTP/2 layer or the server refuses it; the call fails, nothing crashes.
    const huge = `Bearer ${'b'.repeat(1024 * 1024)}`;
    const c = client(address);
    try {
      const metadata = new Metadata();
      metadata.set('authorization', huge);
      const error = await callFailure(c.listModels({}, { metadata }));
      expect(error.code).not.toBe(status.OK);
    } finally {
      c.close();
    }
    // Bytes outside ASCII, which grpc-js's client will not send but a raw HTTP/2 client can.
    // grpc-js drops the header and logs it, value and all, at debug level: the value is redacted.
    logger.level = 'debug';
    expect(await rawCall(address, 'Bearer s\u00e9cr\u00e9t')).toEqual({
      grpcStatus: String(status.UNAUTHENTICATED),
    });
    expect(lines.some((l) => /metadata entry authorization: \[redacted\]/.test(String(l.msg)))).toBe(true);
    expect(JSON.stringify(lines)).not.toMatch(/s.cr.t/);
    // Still serving.
    expect(await whoAmI(address, undefined, aliceToken)).toBe('alice|user|true');
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain('a'.repeat(64));
    expect(logged).not.toContain('b'.repeat(64));
    expect(logged).not.toContain(aliceToken);
  });

  it('reloads the token file when it changes, and keeps the old table when the new file is invalid', async () => {
    const { address, lines } = await start({ auth: { tokensFile: tokens } });
    expect((await callFailure(whoAmI(address, undefined, bobToken))).code).toBe(status.UNAUTHENTICATED);
    const next = `${tokens}.next`;
    writeFileSync(
      next,
      [tokenEntryLine(aliceToken, 'alice', 'user'), tokenEntryLine(bobToken, 'bob', 'admin')].join('\n'),
    );
    renameSync(next, tokens);
    await eventually(async () => lines.some((l) => l.msg === 'token file reloaded'));
    expect(await whoAmI(address, undefined, bobToken)).toBe('bob|admin|true');
    // root was dropped from the file.
    expect((await callFailure(whoAmI(address, undefined, rootToken))).code).toBe(status.UNAUTHENTICATED);

    writeFileSync(
      tokens,
      `{"sha256":"${hashToken(rootToken)}","subject":"root","role":"superuser"}\n${bobToken}\n`,
    );
    await eventually(async () =>
      lines.some((l) => l.msg === 'token file changed but cannot be used: keeping the previous tokens'),
    );
    const problem = String(
      lines.find((l) => l.msg === 'token file changed but cannot be used: keeping the previous tokens')
        ?.problem,
    );
    expect(problem).toContain(`${tokens} line 1: role: expected 'user' or 'admin'`);
    expect(await whoAmI(address, undefined, bobToken)).toBe('bob|admin|true');
    expect(JSON.stringify(lines)).not.toContain(bobToken);
  });

  it('exempts the services it is told to, whose callers without credentials are guests, not admins', async () => {
    const { address } = await start({
      auth: { tokensFile: tokens, exempt: ['relativenas.v1.InferenceService'] },
    });
    expect(await whoAmI(address)).toBe('anonymous|user|false');
    expect(await whoAmI(address, undefined, aliceToken)).toBe('alice|user|true');
  });
});

/** One ListModels call over a raw HTTP/2 stream with `authorization`; the grpc-status it ends with. */
function rawCall(address: string, authorization: string): Promise<{ grpcStatus: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${address}`);
    session.on('error', reject);
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/relativenas.v1.InferenceService/ListModels',
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      authorization,
    });
    let grpcStatus: string | undefined;
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
    });
    stream.on('trailers', (trailers) => {
      if (trailers['grpc-status'] !== undefined) grpcStatus = String(trailers['grpc-status']);
    });
    stream.on('data', () => undefined);
    stream.on('close', () => {
      session.close();
      resolve({ grpcStatus });
    });
    stream.on('error', reject);
    // An empty message: five bytes of gRPC framing.
    stream.end(Buffer.alloc(5));
  });
}

describe('the token file', () => {
  it('parses entries, comments and blank lines; an empty file lists no one', () => {
    const token = newToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const table = parseTokenFile(
      `# comment\n\n${tokenEntryLine(token, 'alice', 'user')}\n{"subject":"ops","role":"admin"}\n`,
    );
    expect(table.tokens).toEqual([
      { hash: Buffer.from(hashToken(token), 'hex'), subject: 'alice', role: 'user' },
    ]);
    expect([...table.roles]).toEqual([
      ['alice', 'user'],
      ['ops', 'admin'],
    ]);
    expect(parseTokenFile('').tokens).toEqual([]);
  });

  it.each([
    ['a token pasted as is', 'not-json-secret-token', /line 1: not a JSON object/],
    ['an array', '[]', /line 1: entry: /],
    ['null', 'null', /line 1: entry: /],
    ['a short hash', '{"sha256":"abc","subject":"a","role":"user"}', /line 1: sha256: expected the SHA-256/],
    [
      'an unknown role',
      `{"sha256":"${'0'.repeat(64)}","subject":"a","role":"root"}`,
      /line 1: role: expected 'user' or 'admin'/,
    ],
    [
      'an extra key',
      `{"sha256":"${'0'.repeat(64)}","subject":"a","role":"user","token":"x"}`,
      /line 1: entry: .*token/,
    ],
    ['a prototype key', `{"__proto__":{"role":"admin"},"subject":"a","role":"user"}`, /line 1: entry: /],
    [
      'a control character in the subject',
      '{"subject":"a\\nb","role":"user"}',
      /line 1: subject: a subject has no control characters/,
    ],
    ['no subject', `{"sha256":"${'0'.repeat(64)}","role":"user"}`, /line 1: subject: /],
  ])('refuses %s, naming the line and never quoting it', (_what, line, message) => {
    let caught: Error | undefined;
    try {
      parseTokenFile(`# header\n${line}`.replace('# header\n', ''), 'tokens.jsonl');
    } catch (error) {
      caught = error as Error;
    }
    expect(caught?.message).toMatch(message);
    expect(caught?.message).toMatch(/^tokens\.jsonl line 1: /);
    expect(caught?.message).not.toContain('secret');
  });

  it('refuses a hash listed twice and a subject with two roles', () => {
    const hash = '1'.repeat(64);
    expect(() =>
      parseTokenFile(
        `{"sha256":"${hash}","subject":"a","role":"user"}\n{"sha256":"${hash}","subject":"b","role":"user"}`,
      ),
    ).toThrow('line 2: the same sha256 as line 1');
    expect(() => parseTokenFile(`{"subject":"a","role":"user"}\n{"subject":"a","role":"admin"}`)).toThrow(
      'line 2: subject "a" has role user on an earlier line',
    );
  });

  it('refuses a file larger than a megabyte, and one that is missing', () => {
    const huge = path.join(dir, 'huge.jsonl');
    writeFileSync(huge, '#'.repeat(MAX_TOKEN_FILE_BYTES + 1));
    expect(() => readTokenFile(huge)).toThrow(
      `${huge}: ${MAX_TOKEN_FILE_BYTES + 1} bytes, more than the ${MAX_TOKEN_FILE_BYTES}`,
    );
    expect(() => readTokenFile(path.join(dir, 'absent.jsonl'))).toThrow(
      /absent\.jsonl: cannot read the file: ENOENT/,
    );
  });

  it('takes the scheme in any case and spaces after it, as RFC 6750 allows', () => {
    const { logger } = memoryLogger('auth');
    const file = path.join(dir, 'one.jsonl');
    const token = newToken();
    writeFileSync(file, tokenEntryLine(token, 'carol', 'user'));
    const auth = new Authenticator({ tokensFile: file, clientCertificates: false, logger });
    try {
      const metadata = new Metadata();
      metadata.set('authorization', `bearer   ${token}`);
      expect(auth.authenticate({ metadata, authContext: {} })).toEqual({
        subject: 'carol',
        role: 'user',
        authenticated: true,
      });
      // Two authorization headers (grpc-js's client will not send them; another client might).
      const twice = new Metadata();
      twice.add('authorization', `Bearer ${token}`);
      twice.add('authorization', `Bearer ${token}`);
      expect(auth.authenticate({ metadata: twice, authContext: {} })).toEqual(
        new UnauthenticatedError('more than one authorization header'),
      );
      const other = new Metadata();
      other.set('authorization', `Bearer ${token}x`);
      expect(auth.authenticate({ metadata: other, authContext: {} })).toBeInstanceOf(UnauthenticatedError);
    } finally {
      auth.close();
    }
  });
});

describe('the configuration', () => {
  function issues(argv: string[]): string[] {
    try {
      loadServiceConfig(argv, {});
    } catch (error) {
      if (error instanceof ConfigError) return [...error.issues];
      throw error;
    }
    throw new Error('expected a ConfigError');
  }

  it('needs both the certificate and the key', () => {
    expect(issues(['--tls-cert', serverA.cert])).toEqual([
      `--tls-cert ${JSON.stringify(serverA.cert)} is set but --tls-key is not: TLS needs both (or neither)`,
    ]);
    expect(issues(['--tls-key', serverA.key])[0]).toMatch(/--tls-key .* is set but --tls-cert is not/);
    expect(issues(['--tls-client-ca', clientCa.cert])[0]).toMatch(
      /--tls-client-ca .* needs --tls-cert and --tls-key/,
    );
  });

  it('names the flag and the path of a file that is missing, not PEM, or a key of another certificate', () => {
    const missing = path.join(dir, 'missing.pem');
    expect(issues(['--tls-cert', missing, '--tls-key', serverA.key])[0]).toMatch(
      new RegExp(
        `^--tls-cert "${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}": cannot read the file: ENOENT`,
      ),
    );
    const garbage = path.join(dir, 'garbage.pem');
    writeFileSync(garbage, 'hello');
    expect(issues(['--tls-cert', garbage, '--tls-key', serverA.key])[0]).toMatch(
      /^--tls-cert ".*garbage\.pem": no PEM certificate/,
    );
    expect(issues(['--tls-cert', serverA.cert, '--tls-key', garbage])[0]).toMatch(
      /^--tls-key .*garbage\.pem: not a valid unencrypted PEM private key/,
    );
    expect(issues(['--tls-cert', serverA.cert, '--tls-key', serverB.key])[0]).toMatch(
      /^--tls-key .*server-b\.key: the key does not belong to the certificate in .*server-a\.pem/,
    );
    expect(
      issues(['--tls-cert', serverA.cert, '--tls-key', serverA.key, '--tls-client-ca', garbage])[0],
    ).toMatch(/^--tls-client-ca ".*garbage\.pem": no PEM certificate/);
    const badTokens = path.join(dir, 'bad-tokens.jsonl');
    writeFileSync(badTokens, '{"subject":"x","role":"owner"}');
    expect(issues(['--auth-tokens', badTokens])[0]).toMatch(
      /^--auth-tokens ".*bad-tokens\.jsonl": .*line 1: role:/,
    );
  });

  it('keeps `rnas serve` from starting on 0.0.0.0 without TLS or --insecure (exit code 2)', () => {
    // The compiled CLI, as an operator runs it (jest's global setup builds the workspace).
    const bin = path.join(__dirname, '..', '..', '..', 'services', 'cli', 'bin', 'rnas.js');
    const run = spawnSync(
      process.execPath,
      [bin, 'serve', 'search', '--host', '0.0.0.0', '--state-dir', dir],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH },
        timeout: 60_000,
      },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      'refusing to serve plaintext gRPC on 0.0.0.0, an address other hosts can reach: set --tls-cert and --tls-key',
    );
  });

  it('refuses plaintext on an outside address without --insecure, and --insecure with TLS', () => {
    expect(issues(['--host', '10.1.2.3'])).toEqual([
      'refusing to serve plaintext gRPC on 10.1.2.3, an address other hosts can reach: set --tls-cert and --tls-key (RNAS_TLS_CERT, RNAS_TLS_KEY) to serve TLS, or --insecure (RNAS_INSECURE=1) to serve plaintext anyway',
    ]);
    expect(loadServiceConfig(['--host', '10.1.2.3', '--insecure'], {}).insecure).toBe(true);
    expect(loadServiceConfig(['--host', '10.1.2.3'], { RNAS_INSECURE: 'true' }).insecure).toBe(true);
    expect(issues(['--host', '10.1.2.3'])).toHaveLength(1);
    expect(issues(['--insecure', '--tls-cert', serverA.cert, '--tls-key', serverA.key])).toEqual([
      '--insecure allows plaintext, but --tls-cert is set: drop one of them',
    ]);
    const tls = loadServiceConfig(
      ['--host', '0.0.0.0', '--tls-cert', serverA.cert, '--tls-key', serverA.key],
      {},
    );
    expect(tls).toMatchObject({
      tlsCert: serverA.cert,
      tlsKey: serverA.key,
      insecure: false,
      tlsClientCa: undefined,
    });
    expect(loadServiceConfig([], {}).authExempt).toEqual([
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
    expect(issues(['--auth-exempt', 'not a service'])[0]).toMatch(
      /--auth-exempt "not a service": expected a full gRPC service name/,
    );
    expect(issues(['--insecure=maybe'])[0]).toMatch(/--insecure "maybe": expected true or false/);
  });
});
