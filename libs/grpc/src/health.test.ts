// Readiness through grpc.health.v1: a service that becomes SERVING, one that never does, a server
// that does not know the service, an address where nothing listens, and an aborted wait.
import { status, type ServiceError } from '@grpc/grpc-js';
import { InferenceServiceService } from '@rnas/proto';
import { freePorts, SERVICE_ENDPOINTS } from './endpoints';
import { startFakeService, type FakeService } from './fake-service';
import { checkHealth, waitForServing } from './health';
import { createLogger } from './logger';
import { createServer, serviceName } from './server';

const INFERENCE = SERVICE_ENDPOINTS.inference.service;
const NOT_READY = { classify: () => ({}), listModels: () => ({}), getModel: () => ({}) } as never;

describe('waitForServing', () => {
  let fake: FakeService;
  beforeEach(async () => {
    fake = await startFakeService(InferenceServiceService, NOT_READY, { ready: false });
  });
  afterEach(() => fake.server.shutdown());

  it('the endpoint table names the services as their definitions do', () => {
    expect(INFERENCE).toBe(serviceName(InferenceServiceService));
  });

  it('resolves once the service turns SERVING', async () => {
    expect(await checkHealth(fake.address, INFERENCE)).toBe('NOT_SERVING');
    const waiting = waitForServing(fake.address, INFERENCE, { timeoutMs: 30_000, intervalMs: 20 });
    setTimeout(() => fake.server.setServing(INFERENCE, true), 100);
    await waiting;
    expect(await checkHealth(fake.address, INFERENCE)).toBe('SERVING');
  });

  it('times out on a service that stays NOT_SERVING, naming the address and the service', async () => {
    await expect(waitForServing(fake.address, INFERENCE, { timeoutMs: 300, intervalMs: 20 })).rejects.toThrow(
      `${INFERENCE} at ${fake.address} was not serving within 300 ms (last: NOT_SERVING)`,
    );
  });

  it('says so when the server does not know the service', async () => {
    const error = await checkHealth(fake.address, 'no.such.Service').catch((e: unknown) => e);
    expect((error as ServiceError).code).toBe(status.NOT_FOUND);
    await expect(
      waitForServing(fake.address, 'no.such.Service', { timeoutMs: 200, intervalMs: 20 }),
    ).rejects.toThrow(
      `no.such.Service at ${fake.address} was not serving within 200 ms (last: the server does not know the service)`,
    );
  });

  it('stops at once when its signal aborts, with the reason given', async () => {
    const controller = new AbortController();
    const waiting = waitForServing(fake.address, INFERENCE, { timeoutMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('the service exited')), 100);
    await expect(waiting).rejects.toThrow('the service exited');
  });
});

describe('waitForServing on an address where nothing listens', () => {
  it('waits, then reports the address as unreachable', async () => {
    await expect(
      waitForServing('127.0.0.1:1', INFERENCE, { timeoutMs: 500, intervalMs: 50 }),
    ).rejects.toThrow(
      new RegExp(
        `^${INFERENCE} at 127\\.0\\.0\\.1:1 was not serving within 500 ms \\(last: (UNAVAILABLE|DEADLINE_EXCEEDED): `,
      ),
    );
  });

  it('sees a server that starts listening while it waits', async () => {
    const [port] = await freePorts(1);
    const address = `127.0.0.1:${port}`;
    const waiting = waitForServing(address, '', { timeoutMs: 30_000, intervalMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const server = createServer({
      host: '127.0.0.1',
      port,
      metricsPort: null,
      shutdownSignals: [],
      logger: createLogger({ service: 'late', level: 'silent' }),
    });
    await server.start();
    try {
      await waiting;
    } finally {
      await server.shutdown();
    }
  });
});
