// Searches belong to the subject that started them. Over gRPC, with principals fabricated from
// test metadata (testPrincipals) and a worker that keeps searches unfinished: a user gets,
// watches, cancels and lists only their own searches (another's is NOT_FOUND, worded as for an
// unknown id), an admin all of them; the owner survives a restart; --max-jobs-per-subject holds
// under 50 concurrent starts; --max-search-budget refuses a search naming the budget's factors.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { collectStream, ConfigError, firstMessage } from '@rnas/grpc';
import { callerOptions, testPrincipals, writeIdleWorker } from '@rnas/jobs';
import { SearchState, type Search, type SearchConfig } from '@rnas/proto';
import { loadSearchServiceConfig } from './config';
import { startSearchService, type RunningService } from './service';
import {
  buildService,
  failure,
  memoryLogger,
  searchClient,
  tinyConfig,
  tinyDataRoot,
  type SearchClient,
} from './test-util';

let dir: string;
let dataRoot: string;
let datasetUri: string;
let workerScript: string;
let service: RunningService;
let client: SearchClient;

const alice = callerOptions('alice');
const bob = callerOptions('bob');
const admin = callerOptions('root', 'admin');

function flags(extra: string[] = []): string[] {
  return [
    ...['--port', '0', '--metrics-port', '0', '--state-dir', path.join(dir, 'state')],
    ...['--data-root', dataRoot, '--max-running-searches', '1', '--max-jobs-per-subject', '3'],
    ...['--max-search-budget', '1000', ...extra],
  ];
}

async function startService(): Promise<void> {
  service = await startSearchService(loadSearchServiceConfig(flags(), {}), {
    logger: memoryLogger().logger,
    shutdownSignals: [],
    workerScript,
    authenticate: testPrincipals,
  });
  client = searchClient(service.port);
}

beforeAll(async () => {
  buildService();
  ({ dir, dataRoot, datasetUri } = await tinyDataRoot());
  workerScript = writeIdleWorker(mkdtempSync(path.join(tmpdir(), 'rnas-search-owner-')));
  await startService();
}, 300_000);

afterAll(async () => {
  client?.close();
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(path.dirname(workerScript), { recursive: true, force: true });
});

/** 4 x 2 x (16 + 8) = 192 candidate images: within the test's budget of 1000. */
async function start(caller: { metadata: Record<string, string> }, config?: SearchConfig): Promise<Search> {
  const response = await client.startSearch({ datasetUri, seed: 1, config: config ?? tinyConfig() }, caller);
  return response.search as Search;
}

/** Every status an unknown id gets from GetSearch, WatchSearch and CancelSearch, with `id` in it. */
async function refusals(id: string, caller: { metadata: Record<string, string> }): Promise<ServiceError[]> {
  return [
    await failure(client.getSearch({ searchId: id }, caller)),
    await failure(collectStream(client.watchSearch({ searchId: id, afterSequence: '0' }, caller))),
    await failure(client.cancelSearch({ searchId: id }, caller)),
  ];
}

const codeAndDetails = (errors: ServiceError[]): [number, string][] => errors.map((e) => [e.code, e.details]);

async function cancelAll(): Promise<void> {
  for (const search of (await client.listSearches({ pageSize: 1000, pageToken: '', state: 0 }, admin))
    .searches) {
    if (
      search.state === SearchState.SEARCH_STATE_QUEUED ||
      search.state === SearchState.SEARCH_STATE_RUNNING
    ) {
      await client.cancelSearch({ searchId: search.id }, admin);
    }
  }
}

describe('search ownership', () => {
  let alices: Search;

  it('records the caller as the owner', async () => {
    alices = await start(alice);
    expect(alices.owner).toBe('alice');
    expect((await client.getSearch({ searchId: alices.id }, alice)).search?.owner).toBe('alice');
  });

  it('answers another user’s search exactly as an unknown id, for Get, Watch and Cancel', async () => {
    const unknown = randomUUID();
    const asUnknown = codeAndDetails(await refusals(unknown, bob)).map(
      ([code, details]): [number, string] => [code, details.replace(unknown, alices.id)],
    );
    expect(asUnknown.map(([code]) => code)).toEqual([status.NOT_FOUND, status.NOT_FOUND, status.NOT_FOUND]);
    expect(codeAndDetails(await refusals(alices.id, bob))).toEqual(asUnknown);
    // Bob's attempt changed nothing.
    expect((await client.getSearch({ searchId: alices.id }, alice)).search?.state).not.toBe(
      SearchState.SEARCH_STATE_CANCELLED,
    );
  });

  it('lists a user’s own searches only, and every search for an admin', async () => {
    const bobs = await start(bob);
    const ids = async (caller: { metadata: Record<string, string> }): Promise<string[]> =>
      (await client.listSearches({ pageSize: 0, pageToken: '', state: 0 }, caller)).searches.map((s) => s.id);
    expect(await ids(alice)).toEqual([alices.id]);
    expect(await ids(bob)).toEqual([bobs.id]);
    expect(await ids(callerOptions('carol'))).toEqual([]);
    const all = (await client.listSearches({ pageSize: 0, pageToken: '', state: 0 }, admin)).searches;
    expect(all.map((s) => [s.id, s.owner])).toEqual([
      [bobs.id, 'bob'],
      [alices.id, 'alice'],
    ]);
    // A page token of alice's listing is no token of bob's.
    await start(alice);
    const page = await client.listSearches({ pageSize: 1, pageToken: '', state: 0 }, alice);
    expect(page.nextPageToken).not.toBe('');
    const misuse = await failure(
      client.listSearches({ pageSize: 1, pageToken: page.nextPageToken, state: 0 }, bob),
    );
    expect(misuse.code).toBe(status.INVALID_ARGUMENT);
    // Without authentication every caller is the anonymous admin: it sees every search.
    expect((await client.listSearches({ pageSize: 0, pageToken: '', state: 0 })).searches).toHaveLength(3);
  });

  it('lets an admin get, watch and cancel anyone’s search', async () => {
    expect((await client.getSearch({ searchId: alices.id }, admin)).search?.owner).toBe('alice');
    const first = await firstMessage(
      client.watchSearch({ searchId: alices.id, afterSequence: '0' }, admin),
      () => true,
    );
    expect(first.sequence).toBe(1);
    const cancelled = (await client.cancelSearch({ searchId: alices.id }, admin)).search;
    expect(cancelled?.owner).toBe('alice');
    expect([SearchState.SEARCH_STATE_CANCELLING, SearchState.SEARCH_STATE_CANCELLED]).toContain(
      cancelled?.state,
    );
  });

  it('keeps the owner across a restart', async () => {
    client.close();
    await service.close();
    await startService();
    expect((await client.getSearch({ searchId: alices.id }, alice)).search?.owner).toBe('alice');
    expect((await failure(client.getSearch({ searchId: alices.id }, bob))).code).toBe(status.NOT_FOUND);
    await cancelAll();
  });

  it('accepts exactly --max-jobs-per-subject of 50 concurrent starts of one subject', async () => {
    const carol = callerOptions('carol');
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => start(carol)));
    const accepted = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as ServiceError] : []));
    expect(accepted).toHaveLength(3);
    expect(refused).toHaveLength(47);
    for (const error of refused) {
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.details).toBe(
        'subject "carol" has 3 unfinished search jobs (queued, running or cancelling); ' +
          '--max-jobs-per-subject (RNAS_MAX_JOBS_PER_SUBJECT) is 3: wait for one to finish or cancel one',
      );
    }
    const carols = (await client.listSearches({ pageSize: 0, pageToken: '', state: 0 }, carol)).searches;
    expect(carols).toHaveLength(3);
    // Another subject has a quota of its own, and a finished search frees a place.
    expect((await start(callerOptions('dave'))).owner).toBe('dave');
    await client.cancelSearch({ searchId: carols[0].id }, carol);
    expect((await start(carol)).owner).toBe('carol');
    expect((await failure(start(carol))).code).toBe(status.RESOURCE_EXHAUSTED);
    await cancelAll();
  });

  it('refuses a search above --max-search-budget, naming the budget and its factors', async () => {
    const error = await failure(
      start(alice, tinyConfig({ population: 4, generations: 5, trainImages: 40, valImages: 11 })),
    );
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toBe(
      'search budget 1020 = config.population 4 x config.generations 5 x images per comparison 51 ' +
        '(config.train_images 40 + config.val_images 11) is above --max-search-budget (RNAS_MAX_SEARCH_BUDGET) ' +
        '1000: ask for fewer members, generations or images',
    );
  });
});

describe('the ownership and quota flags', () => {
  const load = (extra: string[], env: Record<string, string> = {}): unknown =>
    loadSearchServiceConfig(['--state-dir', dir, ...extra], env);

  it('default to no quota and a budget that admits the README’s searches', () => {
    expect(load([])).toMatchObject({ maxJobsPerSubject: 0, maxSearchBudget: 50_000_000 });
    expect(load([], { RNAS_MAX_JOBS_PER_SUBJECT: '5', RNAS_MAX_SEARCH_BUDGET: '0' })).toMatchObject({
      maxJobsPerSubject: 5,
      maxSearchBudget: 0,
    });
  });

  it.each([
    ['--max-jobs-per-subject', '-1'],
    ['--max-jobs-per-subject', '2.5'],
    ['--max-jobs-per-subject', '1e3'],
    ['--max-jobs-per-subject', '0x10'],
    ['--max-jobs-per-subject', 'unlimited'],
    ['--max-jobs-per-subject', '99999999999999999999999'],
    ['--max-search-budget', '-5'],
    ['--max-search-budget', '1e20'],
    ['--max-search-budget', '1000000000000001'],
    ['--max-search-budget', '12; rm -rf /'],
  ])('refuses %s %s, naming the flag and the value', (flag, value) => {
    let error: unknown;
    try {
      load([flag, value]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(flag);
    expect(issues[0]).toContain(JSON.stringify(value));
  });
});
