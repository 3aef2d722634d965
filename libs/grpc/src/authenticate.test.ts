// The server's `authenticate` option: it decides each call's `context.principal` from the call's
// metadata before the handler runs (unary and streaming alike), a refusal ends the call with its
// status without running the handler, and without the option every call is ANONYMOUS.
import { status, type Metadata } from '@grpc/grpc-js';
import { Search, SearchServiceService, SearchState } from '@rnas/proto';
import { createClient } from './client';
import { DomainError } from './errors';
import type { Authenticate, CallContext, ServiceHandlers } from './handlers';
import { createLogger } from './logger';
import { ANONYMOUS, type Principal } from './principal';
import { createServer, type GrpcServer } from './server';
import { callFailure, collectStream } from './testing';

class UnauthenticatedError extends DomainError {
  readonly code = status.UNAUTHENTICATED;
}

/** A search whose id carries the principal the handler saw. */
const searchOf = (context: CallContext): Search =>
  Search.fromPartial({ id: JSON.stringify(context.principal), state: SearchState.SEARCH_STATE_QUEUED });

async function serve(
  authenticate: Authenticate | undefined,
): Promise<{ server: GrpcServer; port: number; handled: string[] }> {
  const handled: string[] = [];
  const handlers = {
    getSearch: (_request, context) => {
      handled.push('getSearch');
      return { search: searchOf(context) };
    },
    async *watchSearch(_request, context) {
      handled.push('watchSearch');
      yield {
        sequence: 1,
        timeUnixMs: 0,
        replayed: false,
        event: {
          $case: 'stateChange',
          value: { state: SearchState.SEARCH_STATE_QUEUED, reason: '', search: searchOf(context) },
        },
      };
    },
  } as Partial<ServiceHandlers<typeof SearchServiceService>> as ServiceHandlers<typeof SearchServiceService>;
  for (const name of Object.keys(SearchServiceService)) {
    (handlers as unknown as Record<string, unknown>)[name] ??= () => {
      throw new Error('not used');
    };
  }
  const server = createServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: null,
    shutdownSignals: [],
    logger: createLogger({ service: 'test', level: 'silent' }),
    authenticate,
  });
  server.addService(SearchServiceService, handlers);
  const { port } = await server.start();
  return { server, port, handled };
}

/** Reads `x-subject` and `x-role`; refuses a call without a subject. */
const fromMetadata: Authenticate = (metadata: Metadata, peer: string): Principal => {
  const subject = metadata.get('x-subject')[0];
  if (typeof subject !== 'string') throw new UnauthenticatedError(`no subject from ${peer.split(':')[0]}`);
  return { subject, role: metadata.get('x-role')[0] === 'admin' ? 'admin' : 'user', authenticated: true };
};

describe('the authenticate option', () => {
  it('gives unary and streaming handlers the principal of their call', async () => {
    const { server, port } = await serve(fromMetadata);
    const client = createClient(SearchServiceService, `127.0.0.1:${port}`);
    try {
      const alice = { subject: 'alice', role: 'user', authenticated: true };
      const got = await client.getSearch({ searchId: 'x' }, { metadata: { 'x-subject': 'alice' } });
      expect(JSON.parse(got.search?.id ?? '')).toEqual(alice);
      const admin = await client.getSearch(
        { searchId: 'x' },
        { metadata: { 'x-subject': 'root', 'x-role': 'admin' } },
      );
      expect(JSON.parse(admin.search?.id ?? '')).toEqual({
        subject: 'root',
        role: 'admin',
        authenticated: true,
      });
      const [message] = await collectStream(
        client.watchSearch({ searchId: 'x', afterSequence: '0' }, { metadata: { 'x-subject': 'alice' } }),
      );
      const watched = message.event?.$case === 'stateChange' ? message.event.value.search?.id : undefined;
      expect(JSON.parse(watched ?? '')).toEqual(alice);
    } finally {
      client.close();
      await server.shutdown();
    }
  });

  it('ends a refused call with the refusal’s status, before its handler runs', async () => {
    const { server, port, handled } = await serve(fromMetadata);
    const client = createClient(SearchServiceService, `127.0.0.1:${port}`);
    try {
      const unary = await callFailure(client.getSearch({ searchId: 'x' }));
      expect(unary.code).toBe(status.UNAUTHENTICATED);
      expect(unary.details).toBe('no subject from 127.0.0.1');
      const stream = await callFailure(
        collectStream(client.watchSearch({ searchId: 'x', afterSequence: '0' })),
      );
      expect(stream.code).toBe(status.UNAUTHENTICATED);
      expect(handled).toEqual([]);
    } finally {
      client.close();
      await server.shutdown();
    }
  });

  it('makes every call ANONYMOUS when the server has none', async () => {
    const { server, port } = await serve(undefined);
    const client = createClient(SearchServiceService, `127.0.0.1:${port}`);
    try {
      const got = await client.getSearch({ searchId: 'x' }, { metadata: { 'x-subject': 'alice' } });
      expect(JSON.parse(got.search?.id ?? '')).toEqual(ANONYMOUS);
    } finally {
      client.close();
      await server.shutdown();
    }
  });
});
