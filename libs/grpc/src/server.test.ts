import path from 'node:path';
import { Writable } from 'node:stream';
import {
  credentials,
  loadPackageDefinition,
  makeGenericClientConstructor,
  Metadata,
  status,
  type Client,
  type ClientDuplexStream,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { service as healthDefinition } from 'grpc-health-check';
import {
  InferenceServiceClient,
  InferenceServiceService,
  SearchServiceClient,
  SearchServiceService,
  SearchState,
  type ClassifyRequest,
  type ClassifyResponse,
  type GetModelResponse,
  type ListModelsResponse,
  type WatchSearchResponse,
} from '@rnas/proto';
import {
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  UnimplementedError,
} from './errors';
import type { CallContext, ServiceHandlers, UnaryHandler } from './handlers';
import { createLogger } from './logger';
import { createServer, type GrpcServer, type ServerOptions } from './server';

interface LogLine {
  level: string;
  msg: string;
  err?: { message: string; stack: string };
  [key: string]: unknown;
}

function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ service: 'test', level: 'debug', destination }), lines };
}

/** The unary call of a grpc-js client as a promise. */
function call<T>(invoke: (done: (error: ServiceError | null, response: T) => void) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    invoke((error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function waitFor(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** An InferenceService whose Classify the test swaps, and whose GetModel throws on request. */
function inferenceHandlers(classify: { current: UnaryHandler<ClassifyRequest, ClassifyResponse> }) {
  return {
    classify: (request, context) => classify.current(request, context),
    listModels: (): ListModelsResponse => ({ models: [{ name: 'tiny', servingVersion: 1, versions: [] }] }),
    detect: () => {
      throw new UnimplementedError('detect');
    },
    segment: () => {
      throw new UnimplementedError('segment');
    },
    estimatePose: () => {
      throw new UnimplementedError('estimatePose');
    },
    getModel: (request): GetModelResponse => {
      const colon = request.modelName.indexOf(':');
      const kind = colon === -1 ? request.modelName : request.modelName.slice(0, colon);
      const value = colon === -1 ? '' : request.modelName.slice(colon + 1);
      switch (kind) {
        case 'invalid':
          throw new InvalidArgumentError('model_name', value, 'must be [a-z0-9._-]');
        case 'missing':
          throw new NotFoundError('model', value);
        case 'precondition':
          throw new FailedPreconditionError('model has no ready version');
        case 'exhausted':
          throw new ResourceExhaustedError('batching queue full (64 requests)');
        case 'cancelled':
          throw new CancelledError();
        case 'deadline':
          throw new DeadlineExceededError();
        case 'unavailable':
          throw new UnavailableError('model tiny is loading');
        case 'bug':
          throw new TypeError('secret internals: cannot read x of undefined');
        case 'string':
          throw 'a thrown string';
        default:
          return { model: { name: request.modelName, servingVersion: 1, versions: [] } };
      }
    },
  } satisfies ServiceHandlers<typeof InferenceServiceService>;
}

/** A SearchService whose WatchSearch replays `history` events, then waits for live ones that never come. */
function searchHandlers(watch: {
  history: number;
  failAfter?: number;
  aborted?: unknown;
  finished?: boolean;
}): ServiceHandlers<typeof SearchServiceService> {
  const refuse = (): never => {
    throw new FailedPreconditionError('not in this test');
  };
  return {
    startSearch: refuse,
    getSearch: refuse,
    listSearches: refuse,
    cancelSearch: refuse,
    async *watchSearch(request, context: CallContext): AsyncGenerator<WatchSearchResponse> {
      try {
        for (let sequence = Number(request.afterSequence) + 1; sequence <= watch.history; sequence++) {
          if (watch.failAfter !== undefined && sequence > watch.failAfter) {
            throw new NotFoundError('search', request.searchId);
          }
          yield {
            sequence,
            timeUnixMs: 1_700_000_000_000 + sequence,
            replayed: true,
            event: {
              $case: 'stateChange',
              value: { state: SearchState.SEARCH_STATE_RUNNING, reason: `event ${sequence}` },
            },
          };
        }
        await waitFor(context.signal);
        watch.aborted = context.signal.reason;
      } finally {
        watch.finished = true;
      }
    },
  };
}

interface Harness {
  server: GrpcServer;
  address: string;
  metricsPort: number | undefined;
  inference: InferenceServiceClient;
  search: SearchServiceClient;
  classify: { current: UnaryHandler<ClassifyRequest, ClassifyResponse> };
  watch: Parameters<typeof searchHandlers>[0];
  lines: LogLine[];
  close(): Promise<void>;
}

async function startHarness(options: Partial<ServerOptions> = {}, searchReady = true): Promise<Harness> {
  const { logger, lines } = captureLogger();
  const classify = {
    current: (async () => ({
      modelName: 'tiny',
      version: 1,
      classifications: [],
    })) as Harness['classify']['current'],
  };
  const watch: Harness['watch'] = { history: 3 };
  const server = createServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    shutdownSignals: [],
    logger,
    ...options,
  });
  server.addService(InferenceServiceService, inferenceHandlers(classify));
  server.addService(SearchServiceService, searchHandlers(watch), { ready: searchReady });
  const { port, metricsPort } = await server.start();
  const address = `127.0.0.1:${port}`;
  const inference = new InferenceServiceClient(address, credentials.createInsecure());
  const search = new SearchServiceClient(address, credentials.createInsecure());
  return {
    server,
    address,
    metricsPort,
    inference,
    search,
    classify,
    watch,
    lines,
    async close() {
      inference.close();
      search.close();
      await server.shutdown();
    },
  };
}

type HealthClient = Client & {
  check(
    request: { service: string },
    done: (error: ServiceError | null, response: { status: string }) => void,
  ): void;
};

function healthClient(address: string): HealthClient {
  const Constructor = makeGenericClientConstructor(
    healthDefinition as unknown as ServiceDefinition,
    'Health',
  );
  return new Constructor(address, credentials.createInsecure()) as unknown as HealthClient;
}

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

/** One request on grpc.reflection.v1.ServerReflection, from the proto that @grpc/reflection ships. */
async function reflect(address: string, request: Record<string, string>): Promise<ReflectionResponse> {
  const protoDir = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
  const definition = loadSync('grpc/reflection/v1/reflection.proto', {
    includeDirs: [protoDir],
    keepCase: true,
  });
  const loaded = loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (address: string, creds: unknown) => Client } } };
  };
  const client = new loaded.grpc.reflection.v1.ServerReflection(
    address,
    credentials.createInsecure(),
  ) as Client & {
    ServerReflectionInfo(): ClientDuplexStream<Record<string, string>, ReflectionResponse>;
  };
  try {
    const stream = client.ServerReflectionInfo();
    const response = new Promise<ReflectionResponse>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
    });
    stream.write(request);
    stream.end();
    return await response;
  } finally {
    client.close();
  }
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...match[2].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(port: number | undefined): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

const INFERENCE = 'relativenas.v1.InferenceService';
const SEARCH = 'relativenas.v1.SearchService';

describe('a running server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, false);
  });
  afterAll(() => h.close());

  it('answers a unary call', async () => {
    const response = await call<ListModelsResponse>((done) => h.inference.listModels({}, done));
    expect(response.models.map((m) => m.name)).toEqual(['tiny']);
  });

  it.each([
    ['invalid:Bad Name', status.INVALID_ARGUMENT, 'invalid model_name="Bad Name": must be [a-z0-9._-]'],
    ['missing:resnet', status.NOT_FOUND, 'model "resnet" not found'],
    ['precondition', status.FAILED_PRECONDITION, 'model has no ready version'],
    ['exhausted', status.RESOURCE_EXHAUSTED, 'batching queue full (64 requests)'],
    ['cancelled', status.CANCELLED, 'call cancelled'],
    ['deadline', status.DEADLINE_EXCEEDED, 'deadline exceeded'],
    ['unavailable', status.UNAVAILABLE, 'model tiny is loading'],
  ])('maps a thrown %s error to its status and message', async (modelName, code, details) => {
    const error = await failure(call((done) => h.inference.getModel({ modelName }, done)));
    expect(error.code).toBe(code);
    expect(error.details).toBe(details);
  });

  it('answers UNKNOWN with a generic message for a bug and logs its stack', async () => {
    for (const modelName of ['bug', 'string']) {
      const error = await failure(call((done) => h.inference.getModel({ modelName }, done)));
      expect(error.code).toBe(status.UNKNOWN);
      expect(error.details).toBe('internal error');
    }
    const logged = h.lines.find(
      (line) => line.level === 'error' && line.err?.message.includes('secret internals'),
    );
    expect(logged?.err?.stack).toContain('TypeError: secret internals');
    expect(logged?.method).toBe(`/${INFERENCE}/GetModel`);
  });

  it('escapes a hostile value in the status message', async () => {
    const hostile = `x\r\ngrpc-status: 0\u0000${'A'.repeat(50_000)}`;
    const error = await failure(
      call((done) => h.inference.getModel({ modelName: `invalid:${hostile}` }, done)),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(
      /^invalid model_name="x\\r\\ngrpc-status: 0\\u0000A+"…\(50018 chars\): must be/,
    );
  });

  it('answers INVALID_ARGUMENT naming the request for bytes that are not a protobuf message', async () => {
    const raw = (bytes: Buffer): Buffer => bytes;
    const error = await failure(
      call((done) =>
        h.inference.makeUnaryRequest(
          `/${INFERENCE}/GetModel`,
          raw,
          raw,
          Buffer.from([0x0a, 0x05, 0x41]),
          done,
        ),
      ),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe(
      `invalid request=<3 bytes>: not a valid /${INFERENCE}/GetModel request: premature EOF`,
    );
  });

  it('answers UNIMPLEMENTED for a method it does not have', async () => {
    const raw = (bytes: Buffer): Buffer => bytes;
    const error = await failure(
      call((done) => h.inference.makeUnaryRequest(`/${INFERENCE}/Explode`, raw, raw, Buffer.alloc(0), done)),
    );
    expect(error.code).toBe(status.UNIMPLEMENTED);
  });

  it('reports health per service, flips it on request, and answers NOT_FOUND for unknown services', async () => {
    const health = healthClient(h.address);
    try {
      const check = (service: string): Promise<string> =>
        call<{ status: string }>((done) => health.check({ service }, done)).then((r) => r.status);
      expect(await check('')).toBe('SERVING');
      expect(await check(INFERENCE)).toBe('SERVING');
      expect(await check(SEARCH)).toBe('NOT_SERVING');
      h.server.setServing(SEARCH, true);
      expect(await check(SEARCH)).toBe('SERVING');
      h.server.setServing(INFERENCE, false);
      expect(await check(INFERENCE)).toBe('NOT_SERVING');
      h.server.setServing(INFERENCE, true);
      expect((await failure(check('relativenas.v1.NoSuchService'))).code).toBe(status.NOT_FOUND);
      expect(() => h.server.setServing('relativenas.v1.NoSuchService', true)).toThrow('unknown service');
    } finally {
      health.close();
    }
  });

  it('lists its services through reflection and serves their descriptors', async () => {
    const listed = await reflect(h.address, { list_services: '*' });
    expect(listed.list_services_response?.service.map((s) => s.name).sort()).toEqual([
      'grpc.health.v1.Health',
      INFERENCE,
      SEARCH,
    ]);
    const file = await reflect(h.address, { file_containing_symbol: `${INFERENCE}` });
    const descriptors = file.file_descriptor_response?.file_descriptor_proto ?? [];
    expect(descriptors.length).toBeGreaterThan(0);
    expect(Buffer.concat(descriptors).toString('latin1')).toContain('Classify');
    const unknown = await reflect(h.address, { file_containing_symbol: 'relativenas.v1.Nope' });
    expect(unknown.error_response?.error_code).toBe(status.NOT_FOUND);
  });

  it('streams the history, and aborts the handler when the client cancels', async () => {
    h.watch.history = 3;
    h.watch.aborted = undefined;
    h.watch.finished = false;
    const stream = h.search.watchSearch({ searchId: 's1', afterSequence: '1' });
    const received: number[] = [];
    const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    await new Promise<void>((resolve) =>
      stream.on('data', (event: WatchSearchResponse) => {
        received.push(event.sequence);
        if (received.length === 2) resolve();
      }),
    );
    expect(received).toEqual([2, 3]);
    stream.cancel();
    expect((await ended).code).toBe(status.CANCELLED);
    while (!h.watch.finished) await sleep(5);
    expect(h.watch.aborted).toBeInstanceOf(CancelledError);
    await waitUntil(() => h.server.callsInFlight === 0);
  });

  it('ends a stream with the status of an error thrown after some events', async () => {
    h.watch.history = 5;
    h.watch.failAfter = 2;
    try {
      const stream = h.search.watchSearch({ searchId: 'gone', afterSequence: '0' });
      const received: number[] = [];
      stream.on('data', (event: WatchSearchResponse) => received.push(event.sequence));
      const error = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
      expect(received).toEqual([1, 2]);
      expect(error.code).toBe(status.NOT_FOUND);
      expect(error.details).toBe('search "gone" not found');
    } finally {
      h.watch.failAfter = undefined;
    }
  });

  it('answers DEADLINE_EXCEEDED at the deadline and fires the handler signal', async () => {
    let reason: unknown;
    h.classify.current = async (_request, context) => {
      await waitFor(context.signal);
      reason = context.signal.reason;
      return { modelName: 'late', version: 1, classifications: [] };
    };
    // The handler never answers by itself: only the deadline can end the call.
    const error = await failure(
      call((done) =>
        h.inference.classify(
          { modelName: 'tiny', topK: 1 },
          new Metadata(),
          { deadline: Date.now() + 1_000 },
          done,
        ),
      ),
    );
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    await waitUntil(() => reason !== undefined);
    expect(reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('gives the handler the deadline, the peer and the metadata', async () => {
    let seen: Pick<CallContext, 'deadline' | 'peer' | 'method'> & { tag: unknown } = {
      deadline: 0,
      peer: '',
      method: '',
      tag: '',
    };
    h.classify.current = (_request, context) => {
      seen = {
        deadline: context.deadline,
        peer: context.peer,
        method: context.method,
        tag: context.metadata.get('x-tag')[0],
      };
      return { modelName: 'tiny', version: 1, classifications: [] };
    };
    const metadata = new Metadata();
    metadata.set('x-tag', 'abc');
    const deadline = Date.now() + 60_000;
    await call((done) => h.inference.classify({ modelName: 'tiny', topK: 1 }, metadata, { deadline }, done));
    expect(Math.abs(seen.deadline - deadline)).toBeLessThan(1_000);
    expect(seen.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(seen.method).toBe(`/${INFERENCE}/Classify`);
    expect(seen.tag).toBe('abc');
  });

  it('exports the grpc_server_* families with go-grpc-prometheus labels, process metrics and tfjs memory', async () => {
    const before = await scrape(h.metricsPort);
    const labels = { grpc_type: 'unary', grpc_service: INFERENCE, grpc_method: 'GetModel' };
    const okBefore = sample(before, 'grpc_server_handled_total', { ...labels, grpc_code: 'OK' }) ?? 0;
    const startedBefore = sample(before, 'grpc_server_started_total', labels) ?? 0;
    await call((done) => h.inference.getModel({ modelName: 'tiny' }, done));
    await failure(call((done) => h.inference.getModel({ modelName: 'missing:x' }, done)));
    h.server.metrics.trackTfjsMemory(() => ({ numTensors: 7, numBytes: 1024, numDataBuffers: 3 }), 'wasm');

    const text = await scrape(h.metricsPort);
    expect(sample(text, 'grpc_server_started_total', labels)).toBe(startedBefore + 2);
    expect(sample(text, 'grpc_server_handled_total', { ...labels, grpc_code: 'OK' })).toBe(okBefore + 1);
    expect(
      sample(text, 'grpc_server_handled_total', { ...labels, grpc_code: 'NotFound' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'grpc_server_handling_seconds_count', labels)).toBe(startedBefore + 2);
    expect(sample(text, 'grpc_server_handling_seconds_bucket', { ...labels, le: '+Inf' })).toBe(
      startedBefore + 2,
    );
    // Earlier tests of this server: a cancelled stream, a deadline, and the health checks.
    const stream = { grpc_type: 'server_stream', grpc_service: SEARCH, grpc_method: 'WatchSearch' };
    expect(sample(text, 'grpc_server_handled_total', { ...stream, grpc_code: 'Canceled' })).toBe(1);
    expect(sample(text, 'grpc_server_handled_total', { ...stream, grpc_code: 'NotFound' })).toBe(1);
    expect(
      sample(text, 'grpc_server_handled_total', { grpc_method: 'Classify', grpc_code: 'DeadlineExceeded' }),
    ).toBe(1);
    expect(
      sample(text, 'grpc_server_handled_total', { grpc_service: 'grpc.health.v1.Health', grpc_code: 'OK' }),
    ).toBeGreaterThan(0);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).toMatch(/^rnas_tfjs_tensors 7$/m);
    expect(text).toMatch(/^rnas_tfjs_bytes 1024$/m);
    expect(sample(text, 'rnas_tfjs_backend_info', { backend: 'wasm' })).toBe(1);
  });

  it('answers /healthz and nothing else on the metrics port', async () => {
    const base = `http://127.0.0.1:${h.metricsPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('refuses to change its services once started', () => {
    expect(() => h.server.addService(InferenceServiceService, inferenceHandlers(h.classify))).toThrow(
      'addService must be called before start',
    );
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('message size bounds', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ maxReceiveMessageBytes: 1024, maxSendMessageBytes: 2048 });
  });
  afterAll(() => h.close());

  it('answers RESOURCE_EXHAUSTED for an oversized request without calling the handler, and counts it', async () => {
    let called = false;
    h.classify.current = () => {
      called = true;
      return { modelName: 'tiny', version: 1, classifications: [] };
    };
    const images = [Buffer.alloc(4096, 1)];
    const error = await failure(
      call((done) =>
        h.inference.classify(
          { modelName: 'tiny', topK: 1, input: { $case: 'images', value: { images } } },
          done,
        ),
      ),
    );
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(called).toBe(false);
    const text = await scrape(h.metricsPort);
    expect(
      sample(text, 'grpc_server_handled_total', { grpc_method: 'Classify', grpc_code: 'ResourceExhausted' }),
    ).toBe(1);
  });

  it('answers RESOURCE_EXHAUSTED for an oversized response', async () => {
    h.classify.current = () => ({ modelName: 'x'.repeat(4096), version: 1, classifications: [] });
    const error = await failure(call((done) => h.inference.classify({ modelName: 'tiny', topK: 1 }, done)));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('still answers a request within the bound', async () => {
    h.classify.current = () => ({ modelName: 'tiny', version: 2, classifications: [] });
    const images = [Buffer.alloc(512, 1)];
    const response = await call<ClassifyResponse>((done) =>
      h.inference.classify(
        { modelName: 'tiny', topK: 1, input: { $case: 'images', value: { images } } },
        done,
      ),
    );
    expect(response.version).toBe(2);
  });
});

describe('graceful shutdown', () => {
  it('lets a unary call in flight finish, ends streams with UNAVAILABLE, refuses new calls, then runs the hooks', async () => {
    const h = await startHarness({ shutdownGraceMs: 5_000 });
    const order: string[] = [];
    h.server.onShutdown(() => {
      order.push('hook 1');
    });
    h.server.onShutdown(async () => {
      order.push('hook 2');
    });
    let entered!: () => void;
    const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
    h.classify.current = async (_request, context) => {
      entered();
      await sleep(300);
      expect(context.signal.aborted).toBe(false);
      return { modelName: 'finished', version: 1, classifications: [] };
    };
    const inFlight = call<ClassifyResponse>((done) =>
      h.inference.classify({ modelName: 'tiny', topK: 1 }, done),
    );
    const stream = h.search.watchSearch({ searchId: 's', afterSequence: '0' });
    const streamEnded = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    stream.on('data', () => undefined);
    await handlerEntered;
    await waitUntil(() => h.server.callsInFlight === 2);

    const shutdown = h.server.shutdown();
    expect(h.server.shutdown()).toBe(shutdown);
    expect((await fetch(`http://127.0.0.1:${h.metricsPort}/healthz`)).status).toBe(503);
    expect((await inFlight).modelName).toBe('finished');
    const streamError = await streamEnded;
    expect(streamError.code).toBe(status.UNAVAILABLE);
    expect(streamError.details).toBe('server is shutting down');
    await shutdown;
    expect(order).toEqual(['hook 1', 'hook 2']);

    const refused = await failure(
      call((done) => h.inference.listModels({}, new Metadata(), { deadline: Date.now() + 2_000 }, done)),
    );
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(refused.code);
    await expect(fetch(`http://127.0.0.1:${h.metricsPort}/metrics`)).rejects.toThrow();
    h.inference.close();
    h.search.close();
  });

  it('ends a unary call that outlives the grace period with UNAVAILABLE (retried by clients) and aborts its signal', async () => {
    const h = await startHarness({ shutdownGraceMs: 200 });
    let reason: unknown;
    let entered!: () => void;
    const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
    h.classify.current = async (_request, context) => {
      entered();
      await waitFor(context.signal);
      reason = context.signal.reason;
      return { modelName: 'never seen', version: 1, classifications: [] };
    };
    const stuck = failure(call((done) => h.inference.classify({ modelName: 'tiny', topK: 1 }, done)));
    await handlerEntered;
    const started = Date.now();
    // The handler never answers by itself: shutdown() resolving proves the grace period ended it.
    await h.server.shutdown();
    const error = await stuck;
    expect({ code: error.code, details: error.details }).toEqual({
      code: status.UNAVAILABLE,
      details: 'server is shutting down: the call did not finish within the 200 ms grace period',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await waitUntil(() => reason !== undefined);
    expect(reason).toBeInstanceOf(UnavailableError);
    expect(
      h.lines.some((line) => line.msg === 'grace period over: ending calls in flight with UNAVAILABLE'),
    ).toBe(true);
    h.inference.close();
    h.search.close();
  });

  it('ends a slow unary call and a server stream with UNAVAILABLE when the grace period is short', async () => {
    const h = await startHarness({ shutdownGraceMs: 100 });
    let entered!: () => void;
    const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
    // Slow work that does not watch its signal: the status must not wait for it.
    h.classify.current = async () => {
      entered();
      // Unreferenced: the test need not wait for it.
      await new Promise((resolve) => setTimeout(resolve, 3_000).unref());
      return { modelName: 'too late', version: 1, classifications: [] };
    };
    const slow = failure(call((done) => h.inference.classify({ modelName: 'tiny', topK: 1 }, done)));
    const stream = h.search.watchSearch({ searchId: 's', afterSequence: '0' });
    const events: WatchSearchResponse[] = [];
    stream.on('data', (m: WatchSearchResponse) => events.push(m));
    const streamEnded = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    await handlerEntered;
    await waitUntil(() => h.server.callsInFlight === 2);
    const started = Date.now();
    await h.server.shutdown();
    // Well before the 3 s the handler would take.
    expect(Date.now() - started).toBeLessThan(2_000);
    const unary = await slow;
    expect(unary.code).toBe(status.UNAVAILABLE);
    expect(unary.details).toMatch(/^server is shutting down/);
    const streamError = await streamEnded;
    expect(streamError.code).toBe(status.UNAVAILABLE);
    expect(streamError.details).toMatch(/^server is shutting down/);
    expect(events.map((m) => m.sequence)).toEqual([1, 2, 3]);
    h.inference.close();
    h.search.close();
  });

  it('drains on a shutdown signal', async () => {
    const h = await startHarness({ shutdownSignals: ['SIGUSR2'] });
    const stopped = new Promise<void>((resolve) => h.server.onShutdown(resolve));
    const listeners = process.listenerCount('SIGUSR2');
    process.emit('SIGUSR2', 'SIGUSR2');
    await stopped;
    expect(
      h.lines.some((line) => line.msg === 'signal received: draining' && line.signal === 'SIGUSR2'),
    ).toBe(true);
    expect(process.listenerCount('SIGUSR2')).toBe(listeners - 1);
    h.inference.close();
    h.search.close();
  });
});

describe('handlers written as a class', () => {
  it('keep their `this`', async () => {
    class Catalogue {
      private readonly names = ['resnet', 'tiny'];
      listModels(): ListModelsResponse {
        return { models: this.names.map((name) => ({ name, servingVersion: 1, versions: [] })) };
      }
      classify(): ClassifyResponse {
        return { modelName: this.names[0], version: 1, classifications: [] };
      }
      getModel(): GetModelResponse {
        throw new NotFoundError('model', this.names.join(','));
      }
      detect(): never {
        throw new UnimplementedError('detect');
      }
      segment(): never {
        throw new UnimplementedError('segment');
      }
      estimatePose(): never {
        throw new UnimplementedError('estimatePose');
      }
    }
    const { logger } = captureLogger();
    const server = createServer({
      host: '127.0.0.1',
      port: 0,
      metricsPort: null,
      shutdownSignals: [],
      logger,
    });
    server.addService(InferenceServiceService, new Catalogue());
    const { port } = await server.start();
    const client = new InferenceServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const listed = await call<ListModelsResponse>((done) => client.listModels({}, done));
      expect(listed.models.map((m) => m.name)).toEqual(['resnet', 'tiny']);
    } finally {
      client.close();
      await server.shutdown();
    }
  });
});

describe('start-up errors', () => {
  it('says which address it could not bind', async () => {
    const h = await startHarness();
    const { logger } = captureLogger();
    const port = Number(h.address.split(':')[1]);
    const second = createServer({ host: '127.0.0.1', port, metricsPort: null, shutdownSignals: [], logger });
    second.addService(InferenceServiceService, inferenceHandlers(h.classify));
    const consoleError = jest.spyOn(console, 'error');
    try {
      await expect(second.start()).rejects.toThrow(
        `cannot bind gRPC to 127.0.0.1:${port}: the port is in use by another process (choose another --port, or 0 for any free port)`,
      );
      // grpc-js's own report of the failed bind goes to the JSON log, not the console.
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      consoleError.mockRestore();
      await h.close();
    }
  });

  it('rejects a service added twice, a missing handler, and a descriptor set without its services', async () => {
    const { logger } = captureLogger();
    const classify = {
      current: (() => ({ modelName: '', version: 0, classifications: [] })) as Harness['classify']['current'],
    };
    const server = createServer({
      host: '127.0.0.1',
      port: 0,
      metricsPort: null,
      shutdownSignals: [],
      logger,
      descriptorSet: new Uint8Array(),
    });
    server.addService(InferenceServiceService, inferenceHandlers(classify));
    expect(() => server.addService(InferenceServiceService, inferenceHandlers(classify))).toThrow(
      'added twice',
    );
    const incomplete = {
      ...searchHandlers({ history: 0 }),
      getSearch: undefined,
    } as unknown as ServiceHandlers<typeof SearchServiceService>;
    expect(() => server.addService(SearchServiceService, incomplete)).toThrow(
      `no handler for /${SEARCH}/GetSearch`,
    );
    await expect(server.start()).rejects.toThrow(
      `reflection: the descriptor set defines no service ${INFERENCE}, grpc.health.v1.Health`,
    );
  });
});
