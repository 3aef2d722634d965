// `rnas token` and the security flags of the client commands, against a real TLS server with a
// token file made by `rnas token new`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createServer,
  hashToken,
  memoryLogger,
  parseTokenFile,
  makeCa,
  makeCert,
  UnimplementedError,
  type GrpcServer,
  type PemPair,
  type ServiceHandlers,
} from '@rnas/grpc';
import { InferenceServiceService } from '@rnas/proto';
import { buildProgram } from '../program';
import { rnas } from '../test-util';

jest.setTimeout(60_000);

let dir: string;
let ca: PemPair;
let clientCa: PemPair;
let alice: PemPair;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-token-'));
  ca = makeCa(dir, 'ca');
  clientCa = makeCa(dir, 'client-ca');
  alice = makeCert(dir, 'alice', clientCa, { cn: 'alice', usage: 'client' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The token and the line of `rnas token new`'s output. */
function newTokenOutput(out: string): { token: string; line: string } {
  const lines = out.trim().split('\n');
  expect(lines).toHaveLength(4);
  return { token: lines[1], line: lines[3] };
}

describe('rnas token', () => {
  it('new: prints a fresh token once and the token file line of its hash', async () => {
    const first = await rnas(['token', 'new', '--subject', 'alice', '--role', 'admin']);
    expect(first).toMatchObject({ code: 0, err: '' });
    const { token, line } = newTokenOutput(first.out);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(line)).toEqual({ sha256: hashToken(token), subject: 'alice', role: 'admin' });
    expect(parseTokenFile(line).tokens).toHaveLength(1);
    const second = newTokenOutput((await rnas(['token', 'new', '--subject', 'alice'])).out);
    expect(second.token).not.toBe(token);
    expect(JSON.parse(second.line)).toMatchObject({ role: 'user' });
  });

  it('hash: the line of a token read from standard input; refuses what cannot be a token without echoing it', async () => {
    const ok = await rnas(['token', 'hash', '--subject', 'bob'], { stdin: 'abc.DEF-123\n' });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toEqual({ sha256: hashToken('abc.DEF-123'), subject: 'bob', role: 'user' });
    const bad = await rnas(['token', 'hash', '--subject', 'bob'], { stdin: 'two words\n' });
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^rnas: standard input: not a bearer token/);
    expect(bad.err).not.toContain('two words');
    expect((await rnas(['token', 'hash', '--subject', 'bob'], { stdin: '' })).err).toMatch(
      /standard input: empty/,
    );
    const role = await rnas(['token', 'new', '--subject', 'x', '--role', 'root']);
    expect(role.code).not.toBe(0);
    expect(role.err).toMatch(/--role <role>' argument 'root' is invalid/);
    expect((await rnas(['token', 'new', '--subject', ' x'])).err).toMatch(
      /--subject " x": expected 1 to 256 characters/,
    );
  });
});

describe('the security flags of the client commands', () => {
  let server: GrpcServer;
  let address: string;
  let token: string;

  beforeAll(async () => {
    const serverCert = makeCert(dir, 'server', ca, { cn: 'localhost', usage: 'server' });
    const made = newTokenOutput((await rnas(['token', 'new', '--subject', 'carol'])).out);
    token = made.token;
    const tokens = path.join(dir, 'tokens.jsonl');
    writeFileSync(tokens, `${made.line}\n`);
    const handlers: Record<string, unknown> = {};
    for (const method of Object.keys(InferenceServiceService)) {
      handlers[method] = () => {
        throw new UnimplementedError(method);
      };
    }
    // The model's name says who called.
    handlers.listModels = (_r: unknown, context: { principal: { subject: string } }) => ({
      models: [{ name: `model-of-${context.principal.subject}`, servingVersion: 0, versions: [] }],
    });
    server = createServer({
      host: '127.0.0.1',
      port: 0,
      metricsPort: null,
      shutdownSignals: [],
      logger: memoryLogger('inference').logger,
      tls: { certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: clientCa.cert },
      auth: { tokensFile: tokens },
    });
    server.addService(
      InferenceServiceService,
      handlers as unknown as ServiceHandlers<typeof InferenceServiceService>,
    );
    address = `127.0.0.1:${(await server.start()).port}`;
  });
  afterAll(() => server.shutdown());

  const mtls = (): string[] => ['--tls-cert', alice.cert, '--tls-key', alice.key];

  it('are taken by every command that connects to a service', () => {
    const all = (c: ReturnType<typeof buildProgram>): ReturnType<typeof buildProgram>[] => [
      c,
      ...c.commands.flatMap(all),
    ];
    const connecting = all(buildProgram()).filter((c) => c.options.some((o) => o.long === '--addr'));
    expect(connecting.map((c) => c.name()).sort()).toEqual(
      ['classify', 'detect', 'get', 'models', 'pose', 'segment', 'start', 'watch'].sort(),
    );
    for (const command of connecting) {
      const flags = command.options.map((o) => o.long);
      expect({ command: command.name(), flags }).toEqual({
        command: command.name(),
        flags: expect.arrayContaining(['--tls', '--tls-ca', '--tls-cert', '--tls-key', '--token']) as unknown,
      });
    }
  });

  it.each(['start', 'get', 'list', 'watch', 'cancel'])(
    'are taken by rnas search %s, the client of the search service',
    async (sub) => {
      const help = await rnas(['search', sub, '--help']);
      for (const flag of [
        '--tls ',
        '--tls-ca <file>',
        '--tls-cert <file>',
        '--tls-key <file>',
        '--token <token>',
      ]) {
        expect(help.out).toContain(flag);
      }
    },
  );

  it('call over TLS with the CA, the client certificate and the token, from flags or the environment', async () => {
    const byFlags = await rnas([
      'models',
      '--json',
      '--addr',
      address,
      '--tls-ca',
      ca.cert,
      ...mtls(),
      '--token',
      token,
    ]);
    expect(byFlags).toMatchObject({ code: 0, err: '' });
    expect(byFlags.out).toContain('model-of-carol');
    // Without the token the client certificate's subject authenticates.
    expect(
      (await rnas(['models', '--json', '--addr', address, '--tls-ca', ca.cert, ...mtls()])).out,
    ).toContain('model-of-alice');
    const byEnv = await rnas(['models', '--json', '--addr', address], {
      env: {
        RNAS_CLIENT_TLS_CA: ca.cert,
        RNAS_CLIENT_TLS_CERT: alice.cert,
        RNAS_CLIENT_TLS_KEY: alice.key,
        RNAS_TOKEN: token,
      },
    });
    expect(byEnv.out).toContain('model-of-carol');
  });

  it('say what is wrong: an unknown token, plaintext to TLS, a missing file, a malformed token', async () => {
    const unknown = await rnas([
      'models',
      '--addr',
      address,
      '--tls-ca',
      ca.cert,
      ...mtls(),
      '--token',
      'nope',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(
      /cannot list models at .*: UNAUTHENTICATED: unknown bearer token \(pass a token the service lists: --token or RNAS_TOKEN/,
    );
    const plaintext = await rnas(['models', '--addr', address, '--token', token]);
    expect(plaintext.err).toMatch(/UNAVAILABLE/);
    const noClientCert = await rnas(['models', '--addr', address, '--tls-ca', ca.cert, '--token', token]);
    expect(noClientCert.err).toMatch(/UNAVAILABLE/);
    const missing = path.join(dir, 'absent.pem');
    expect((await rnas(['models', '--addr', address, '--tls-ca', missing])).err).toBe(
      `rnas: --tls-ca ${missing}: cannot read the file: ENOENT: no such file or directory, open '${missing}'\n`,
    );
    expect((await rnas(['models', '--addr', address, '--tls-cert', alice.cert])).err).toMatch(
      /--tls-cert .*alice\.pem is set but not --tls-key/,
    );
    const malformed = await rnas(['models', '--addr', address], { env: { RNAS_TOKEN: 'has spaces inside' } });
    expect(malformed.err).toMatch(/^rnas: RNAS_TOKEN \(flag --token\): not a bearer token/);
    expect(malformed.err).not.toContain('spaces inside');
  });
});
