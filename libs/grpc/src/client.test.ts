// The typed promise client against a stand-in search service: unary calls, errors with their
// status, server streams (whole, broken off, failing), deadlines, metadata, cancellation, close.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Search, SearchServiceService, SearchState, type WatchSearchResponse } from '@rnas/proto';
import { createClient, isServiceError, type PromiseClient } from './client';
import { NotFoundError } from './errors';
import { startFakeService, type FakeService } from './fake-service';
import { pollUntil } from './service-process';

function search(id: string, state = SearchState.SEARCH_STATE_QUEUED): Search {
  return Search.fromPartial({ id, state, datasetUri: 'synthetic:shapes', seed: 1 });
}

const event = (sequence: number): WatchSearchResponse => ({
  sequence,
  timeUnixMs: 0,
  replayed: true,
  event: { $case: 'stateChange', value: { state: 1, reason: `event ${sequence}`, search: undefined } },
});

/** How the stand-in's calls ended, as its handlers saw them. */
const seen: { metadata: string[]; aborted: string[] } = { metadata: [], aborted: [] };

function waitForAbort(signal: AbortSignal, what: string): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => {
      seen.aborted.push(what);
      reject(signal.reason as Error);
    }),
  );
}

let fake: FakeService;
let client: PromiseClient<typeof SearchServiceService>;

beforeAll(async () => {
  fake = await startFakeService(SearchServiceService, {
    startSearch: (request, context) => {
      seen.metadata.push(String(context.metadata.get('x-who')[0] ?? ''));
      return { search: search(`s-${request.seed}`) };
    },
    getSearch: (request, context) => {
      if (request.searchId === 'hang') return waitForAbort(context.signal, 'getSearch');
      throw new NotFoundError('search', request.searchId);
    },
    listSearches: () => ({ searches: [], nextPageToken: '' }),
    cancelSearch: (request) => ({ search: search(request.searchId, SearchState.SEARCH_STATE_CANCELLING) }),
    watchSearch: async function* (request, context) {
      if (request.searchId === 'missing') throw new NotFoundError('search', request.searchId);
      for (let i = 1; i <= 3; i++) yield event(i);
      if (request.searchId === 'endless') {
        await waitForAbort(context.signal, 'watchSearch');
      }
    },
  });
  client = createClient(SearchServiceService, fake.address, { defaultDeadlineMs: 10_000 });
});

afterAll(async () => {
  client.close();
  await fake.server.shutdown();
});

async function failure(pending: Promise<unknown>): Promise<ServiceError> {
  try {
    await pending;
  } catch (error) {
    expect(isServiceError(error)).toBe(true);
    return error as ServiceError;
  }
  throw new Error('the call succeeded');
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const m of stream) all.push(m);
  return all;
}

describe('createClient', () => {
  it('answers a unary call with the response, and passes metadata on', async () => {
    const response = await client.startSearch(
      { datasetUri: 'x', seed: 7, config: undefined },
      { metadata: { 'x-who': 'test' } },
    );
    expect(response.search?.id).toBe('s-7');
    const metadata = new Metadata();
    metadata.set('x-who', 'again');
    await client.startSearch({ datasetUri: 'x', seed: 8, config: undefined }, { metadata });
    expect(seen.metadata.slice(-2)).toEqual(['test', 'again']);
    expect(client.address).toBe(fake.address);
  });

  it('rejects a failed unary call with its status code and details', async () => {
    const error = await failure(client.getSearch({ searchId: 'nope' }));
    expect({ code: error.code, details: error.details }).toEqual({
      code: status.NOT_FOUND,
      details: 'search "nope" not found',
    });
  });

  it('gives a server stream as an async iterable, to its end', async () => {
    const events = await collect(client.watchSearch({ searchId: 's-1', afterSequence: '0' }));
    expect(events.map((e) => e.sequence)).toEqual([1, 2, 3]);
  });

  it('throws a failed stream’s status from the iteration', async () => {
    const error = await failure(collect(client.watchSearch({ searchId: 'missing', afterSequence: '0' })));
    expect(error.code).toBe(status.NOT_FOUND);
  });

  it('cancels a stream the consumer leaves early', async () => {
    const before = seen.aborted.filter((w) => w === 'watchSearch').length;
    for await (const m of client.watchSearch({ searchId: 'endless', afterSequence: '0' })) {
      if (m.sequence === 2) break;
    }
    await pollUntil(async () => seen.aborted.filter((w) => w === 'watchSearch').length > before);
  });

  it('ends a call at its deadline, unary or streaming, with DEADLINE_EXCEEDED', async () => {
    expect((await failure(client.getSearch({ searchId: 'hang' }, { deadlineMs: 100 }))).code).toBe(
      status.DEADLINE_EXCEEDED,
    );
    const stream = client.watchSearch({ searchId: 'endless', afterSequence: '0' }, { deadlineMs: 200 });
    expect((await failure(collect(stream))).code).toBe(status.DEADLINE_EXCEEDED);
    // The client's default deadline applies to unary calls that set none.
    const short = createClient(SearchServiceService, fake.address, { defaultDeadlineMs: 100 });
    try {
      expect((await failure(short.getSearch({ searchId: 'hang' }))).code).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      short.close();
    }
  });

  it('cancels a call when its signal aborts, before or during the call', async () => {
    const controller = new AbortController();
    const pending = failure(client.getSearch({ searchId: 'hang' }, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    expect((await pending).code).toBe(status.CANCELLED);
    expect((await failure(client.getSearch({ searchId: 'x' }, { signal: controller.signal }))).code).toBe(
      status.CANCELLED,
    );
    const stream = client.watchSearch(
      { searchId: 'endless', afterSequence: '0' },
      { signal: controller.signal },
    );
    expect((await failure(collect(stream))).code).toBe(status.CANCELLED);
  });

  it('refuses calls after close, and reports an unreachable address as UNAVAILABLE', async () => {
    const closed = createClient(SearchServiceService, fake.address);
    closed.close();
    await expect(closed.getSearch({ searchId: 'x' })).rejects.toThrow('Channel has been shut down');
    const nowhere = createClient(SearchServiceService, '127.0.0.1:1', { defaultDeadlineMs: 5000 });
    try {
      const error = await failure(nowhere.getSearch({ searchId: 'x' }));
      expect(error.code).toBe(status.UNAVAILABLE);
    } finally {
      nowhere.close();
    }
  });

  it('refuses a definition with a method that would hide address or close', () => {
    const odd = { close: SearchServiceService.getSearch };
    expect(() => createClient(odd, fake.address)).toThrow('createClient: a method is named close');
  });
});
