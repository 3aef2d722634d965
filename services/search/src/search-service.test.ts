// The search service over gRPC on an ephemeral port: a tiny search to completion on an image
// folder under a temporary data root, late and resumed watchers, cancellation, listing, metrics,
// and bad input answered with the right code and the field named. Then the durability promise,
// end to end: the service as its own process (the built dist/main.js) is killed with SIGKILL in
// the middle of a search, and a new process on the same state directory resumes the search to the
// result an uninterrupted run gives, having lost nothing that was acknowledged.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { firstMessage, pollUntil, spawnServiceProcess, type ServiceProcess } from '@rnas/grpc';
import {
  SearchState,
  SearchStrategy,
  type Search,
  type StartSearchRequest,
  type WatchSearchResponse,
} from '@rnas/proto';
import { loadSearchServiceConfig, type SearchServiceConfig } from './config';
import { startSearchService, type RunningService } from './service';
import {
  buildService,
  failure,
  memoryLogger,
  ROOT,
  searchClient,
  type SearchClient,
  tinyConfig,
  tinyDataRoot,
} from './test-util';

let dir: string;
let dataRoot: string;
let datasetUri: string;
let service: RunningService;
let client: SearchClient;
let lines: Record<string, unknown>[];

function serviceConfig(stateDir: string, dataRoot: string, extra: string[] = []): SearchServiceConfig {
  return loadSearchServiceConfig(
    ['--port', '0', '--metrics-port', '0', '--state-dir', stateDir, '--data-root', dataRoot, ...extra],
    {},
  );
}

beforeAll(async () => {
  buildService();
  ({ dir, dataRoot, datasetUri } = await tinyDataRoot());
  const captured = memoryLogger();
  lines = captured.lines;
  service = await startSearchService(
    serviceConfig(path.join(dir, 'state'), dataRoot, ['--max-message-bytes', '65536']),
    {
      logger: captured.logger,
      shutdownSignals: [],
    },
  );
  client = searchClient(service.port);
}, 300_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  client?.close();
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(request: Partial<StartSearchRequest>): Promise<Search> {
  return client
    .startSearch({
      datasetUri,
      seed: 3,
      config: tinyConfig(),
      ...request,
    })
    .then((r) => r.search as Search);
}

function get(searchId: string): Promise<Search> {
  return client.getSearch({ searchId }).then((r) => r.search as Search);
}

function cases(messages: WatchSearchResponse[]): string[] {
  return messages.map((m) =>
    m.event?.$case === 'stateChange' ? `state:${SearchState[m.event.value.state]}` : String(m.event?.$case),
  );
}

/** Waits for the first live event of the given kind. */
function firstEvent(searchId: string, kind: string): Promise<WatchSearchResponse> {
  return firstMessage(client.watchSearch({ searchId, afterSequence: '0' }), (m) => m.event?.$case === kind);
}

const MAIN = path.join(ROOT, 'services', 'search', 'dist', 'main.js');

const children: ChildProcess[] = [];

/** Starts the service process and resolves once its log says which port it serves on. */
async function spawnService(
  stateDir = path.join(dir, 'state'),
  extra: string[] = [],
): Promise<ServiceProcess> {
  const started = await spawnServiceProcess(MAIN, [
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--state-dir',
    stateDir,
    '--data-root',
    dataRoot,
    ...extra,
  ]);
  children.push(started.child);
  return started;
}

function states(messages: WatchSearchResponse[]): string[] {
  return messages.flatMap((m) =>
    m.event?.$case === 'stateChange' ? [SearchState[m.event.value.state]] : [],
  );
}

function generationReports(messages: WatchSearchResponse[]): number[] {
  return messages.flatMap((m) => (m.event?.$case === 'generationReport' ? [m.event.value.generation] : []));
}

describe('SearchService', () => {
  let finished: Search;
  let history: WatchSearchResponse[];

  it('runs a search to completion and watchers see it live', async () => {
    const queued = await start({});
    expect(queued.state).toBe(SearchState.SEARCH_STATE_QUEUED);
    expect(queued.config).toMatchObject({
      population: 4,
      generations: 2,
      layers: 3,
      channels: 4,
      workers: 1,
      lrMax: 0.1,
    });
    expect(queued.seed).toBe(3);
    history = await client.watchAll(queued.id);
    expect(cases(history)).toEqual([
      'state:SEARCH_STATE_QUEUED',
      'state:SEARCH_STATE_RUNNING',
      'pairResult',
      'pairResult',
      'generationReport',
      'pairResult',
      'pairResult',
      'generationReport',
      'state:SEARCH_STATE_SUCCEEDED',
    ]);
    expect(history.map((m) => m.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // This watcher joined while the search was queued or starting: at most the first events were replayed.
    expect(history.filter((m) => m.replayed).length).toBeLessThanOrEqual(2);

    const pair = history[2].event;
    if (pair?.$case !== 'pairResult') throw new Error('expected a pair result');
    expect(pair.value.generation).toBe(0);
    expect(pair.value.teacher?.valLoss).toBeLessThanOrEqual(pair.value.student?.valLoss ?? -1);
    expect(pair.value.teacher?.genotype?.normal).toHaveLength(8);
    const report = history[7].event;
    if (report?.$case !== 'generationReport') throw new Error('expected a generation report');
    expect(report.value.generation).toBe(1);
    expect(report.value.population).toHaveLength(4);
    expect(report.value.pairs).toHaveLength(2);
    expect(report.value.diversity).toBeGreaterThanOrEqual(0);

    finished = await get(queued.id);
    expect(finished.state).toBe(SearchState.SEARCH_STATE_SUCCEEDED);
    expect(finished.progress).toMatchObject({
      generationsDone: 2,
      generations: 2,
      candidatesEvaluated: 8,
      etaMs: 0,
    });
    expect(finished.startedUnixMs).toBeGreaterThanOrEqual(finished.createdUnixMs);
    expect(finished.finishedUnixMs).toBeGreaterThanOrEqual(finished.startedUnixMs);
    expect(finished.resumes).toBe(0);
    // The result is the final choice: the final population re-evaluated under the final weight
    // set (history.json's `final`), and it is what genotype.json holds.
    const stored = JSON.parse(readFileSync(finished.artifacts?.historyPath ?? '', 'utf8')) as {
      final: { best: { valLoss: number; generation: number }; candidates: { valLoss: number }[] };
    };
    expect(finished.best?.valLoss).toBe(stored.final.best.valLoss);
    expect(stored.final.best.valLoss).toBe(Math.min(...stored.final.candidates.map((c) => c.valLoss)));
    expect(finished.best?.generation).toBe(2);
    expect(report.value.generation).toBe(1);
    const artifacts = finished.artifacts;
    expect(artifacts?.directory).toBe(path.join(dir, 'state', 'searches', queued.id));
    const genotype = JSON.parse(readFileSync(artifacts?.genotypePath ?? '', 'utf8')) as {
      normal: [string, number][];
    };
    expect(genotype.normal.map(([op, input]) => ({ op, input }))).toEqual(finished.best?.genotype?.normal);
    expect(existsSync(artifacts?.historyPath ?? '')).toBe(true);
    expect(
      readdirSync(artifacts?.cellsDirectory ?? '')
        .filter((f) => f.endsWith('.svg'))
        .sort(),
    ).toEqual(['final.svg', 'generation-000.svg', 'generation-001.svg']);
    expect(existsSync(path.join(artifacts?.checkpointPath ?? '', 'checkpoint.json'))).toBe(true);
  });

  it('gives a late watcher the whole history, replayed, and resumes a watcher after a sequence', async () => {
    const late = await client.watchAll(finished.id);
    expect(late.map((m) => m.sequence)).toEqual(history.map((m) => m.sequence));
    expect(late.every((m) => m.replayed)).toBe(true);
    expect(late.map((m) => m.event)).toEqual(history.map((m) => m.event));
    const resumed = await client.watchAll(finished.id, 6);
    expect(resumed.map((m) => m.sequence)).toEqual([7, 8, 9]);
    expect(await client.watchAll(finished.id, 9)).toEqual([]);
  });

  it('accepts every uint64 after_sequence: past 2^53 and up to 2^64-1 nothing comes after it', async () => {
    // 2^53 + 1 and 2^64 - 1 cannot be JS numbers: they travel as decimal strings (jstype JS_STRING).
    expect(await client.watchAll(finished.id, '9007199254740993')).toEqual([]);
    expect(await client.watchAll(finished.id, '18446744073709551615')).toEqual([]);
    // Ordinary values unchanged.
    expect((await client.watchAll(finished.id, '0')).map((m) => m.sequence)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    expect((await client.watchAll(finished.id, '8')).map((m) => m.sequence)).toEqual([9]);
  });

  it('cancels a running search within one pair, and a queued one at once', async () => {
    const running = await start({ config: tinyConfig({ generations: 50 }) });
    const waiting = await start({ config: tinyConfig({ generations: 50 }) });
    await firstEvent(running.id, 'pairResult');
    expect((await get(waiting.id)).state).toBe(SearchState.SEARCH_STATE_QUEUED);
    // A watcher past the end of a running search's log stays open, hears nothing, and ends with it.
    let beyondEnded = false;
    const beyond = client.watchAll(running.id, '18446744073709551615').finally(() => (beyondEnded = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(beyondEnded).toBe(false);

    const cancelledQueued = await client.cancelSearch({
      searchId: waiting.id,
    });
    expect(cancelledQueued.search?.state).toBe(SearchState.SEARCH_STATE_CANCELLED);
    expect(cancelledQueued.search?.startedUnixMs).toBe(0);

    const cancelling = await client.cancelSearch({
      searchId: running.id,
    });
    expect(cancelling.search?.state).toBe(SearchState.SEARCH_STATE_CANCELLING);
    const events = await client.watchAll(running.id);
    expect(cases(events).at(-1)).toBe('state:SEARCH_STATE_CANCELLED');
    // Stopped at the next pair boundary: at most the pair in progress finished after the request
    // (and with it, when it was the generation's last pair, the generation).
    const requestedAt = cases(events).indexOf('state:SEARCH_STATE_CANCELLING');
    expect(requestedAt).toBeGreaterThan(0);
    expect(
      cases(events)
        .slice(requestedAt)
        .filter((c) => c === 'pairResult').length,
    ).toBeLessThanOrEqual(1);
    const cancelled = await get(running.id);
    expect(cancelled.state).toBe(SearchState.SEARCH_STATE_CANCELLED);
    expect(await beyond).toEqual([]);

    // Cancelling again returns it unchanged; a succeeded search cannot be cancelled.
    const again = await client.cancelSearch({ searchId: running.id });
    expect(again.search).toEqual(cancelled);
    const done = await failure(client.cancelSearch({ searchId: finished.id }));
    expect(done.code).toBe(status.FAILED_PRECONDITION);
    expect(done.details).toContain('succeeded');
  });

  it('lists searches newest first, in pages, filtered by state', async () => {
    const all = await client.listSearches({
      pageSize: 0,
      pageToken: '',
      state: 0,
    });
    expect(all.searches).toHaveLength(3);
    expect(all.nextPageToken).toBe('');
    const first = await client.listSearches({
      pageSize: 2,
      pageToken: '',
      state: 0,
    });
    const second = await client.listSearches({
      pageSize: 2,
      pageToken: first.nextPageToken,
      state: 0,
    });
    expect([...first.searches, ...second.searches].map((s) => s.id)).toEqual(
      all.searches.map((s: Search) => s.id),
    );
    expect(all.searches[2].id).toBe(finished.id);
    const cancelled = await client.listSearches({
      pageSize: 10,
      pageToken: '',
      state: SearchState.SEARCH_STATE_CANCELLED,
    });
    expect(cancelled.searches).toHaveLength(2);
    const bad = await failure(
      client.listSearches({
        pageSize: 10,
        pageToken: 'garbage!',
        state: 0,
      }),
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toContain('page_token');
    const big = await failure(client.listSearches({ pageSize: 5000, pageToken: '', state: 0 }));
    expect(big.details).toContain('page_size=5000');
  });

  it('exports the search series, job counts and the gRPC series', async () => {
    const text = await (await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`)).text();
    expect(text).toMatch(/^rnas_search_generations_total [1-9]/m);
    expect(text).toMatch(/^rnas_search_candidate_evaluations_total [1-9]/m);
    expect(text).toMatch(/^rnas_search_jobs\{state="succeeded"\} 1$/m);
    expect(text).toMatch(/^rnas_search_jobs\{state="cancelled"\} 2$/m);
    expect(text).toContain(
      'grpc_server_handled_total{grpc_type="unary",grpc_service="relativenas.v1.SearchService",grpc_method="StartSearch",grpc_code="OK"}',
    );
    expect(text).toContain('rnas_tfjs_tensors');
    expect(text).toContain('rnas_search_best_validation_loss');
  });

  it.each<[string, Partial<StartSearchRequest>, string]>([
    ['a negative learning rate', { config: tinyConfig({ lrMax: -0.1 }) }, 'config.lr_max=-0.1'],
    ['an odd population', { config: tinyConfig({ population: 5 }) }, 'config.population=5'],
    ['an absurd population', { config: tinyConfig({ population: 4_000_000 }) }, 'config.population=4000000'],
    [
      'an absurd number of generations',
      { config: tinyConfig({ generations: 1e9 }) },
      'config.generations=1000000000',
    ],
    ['too few cells', { config: tinyConfig({ layers: 2 }) }, 'config.layers=2'],
    ['lr_min above lr_max', { config: tinyConfig({ lrMax: 0.01, lrMin: 0.1 }) }, 'config.lr_min=0.1'],
    ['momentum of 1', { config: tinyConfig({ momentum: 1 }) }, 'config.momentum=1'],
    ['a train portion of 0', { config: tinyConfig({ trainPortion: 0 }) }, 'config.train_portion=0'],
    ['NaN drop path', { config: tinyConfig({ dropPath: Number.NaN }) }, 'config.drop_path'],
    [
      'an unknown primitive',
      { config: tinyConfig({ primitives: ['skip_connect', 'conv_9x9'] }) },
      'config.primitives[1]="conv_9x9"',
    ],
    [
      'a repeated primitive',
      { config: tinyConfig({ primitives: ['skip_connect', 'skip_connect'] }) },
      'config.primitives[1]',
    ],
    ['an unknown strategy', { config: tinyConfig({ strategy: 7 as SearchStrategy }) }, 'config.strategy=7'],
    ['too many workers', { config: tinyConfig({ workers: 1000 }) }, 'config.workers=1000'],
    ['no dataset', { datasetUri: '' }, 'dataset_uri=""'],
    ['an unknown scheme', { datasetUri: 'ftp:/data' }, 'dataset_uri="ftp:/data"'],
    ['a dataset outside the data roots', { datasetUri: 'fashion-mnist:/etc' }, 'outside the data roots'],
    ['a dataset that escapes with ..', { datasetUri: 'imagefolder:../../etc' }, 'outside the data roots'],
    ['a missing dataset', { datasetUri: 'cifar10:nothing-here' }, 'does not exist under the data roots'],
  ])('refuses %s with INVALID_ARGUMENT naming the field', async (_what, request, named) => {
    const before = await client.listSearches({
      pageSize: 100,
      pageToken: '',
      state: 0,
    });
    const error = await failure(start(request));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(named);
    const after = await client.listSearches({
      pageSize: 100,
      pageToken: '',
      state: 0,
    });
    expect(after.searches).toHaveLength(before.searches.length);
  });

  // Every parameter a dataset URI may carry is checked at StartSearch, for every scheme, not found
  // wrong by the job: the answer names the field, the URI as given and the parameter.
  it.each<[string, string]>([
    ['synthetic:shapes?classes=0', 'query parameter classes: expected an integer in [2, 1000], got "0"'],
    ['synthetic:shapes?classes=-2', 'query parameter classes'],
    ['synthetic:shapes?classes=2.5', 'query parameter classes'],
    ['synthetic:shapes?classes=123456789012345678901', 'query parameter classes'],
    ['synthetic:shapes?size=99999', 'query parameter size: expected an integer in [8, 512]'],
    ['synthetic:shapes?channels=2', 'query parameter channels: expected one of 1, 3, got "2"'],
    ['synthetic:shapes?train=0', 'query parameter train'],
    ['synthetic:shapes?seed=-1', 'query parameter seed'],
    ['synthetic:shapes?classes=3&classes=4', 'query parameter "classes" given twice'],
    ['synthetic:shapes?colour=red', 'unknown query parameter "colour"'],
    ['synthetic:circles', 'unknown synthetic generator "circles"'],
    [
      'cifar100:nothing-here?label=medium',
      'query parameter label: expected one of fine, coarse, got "medium"',
    ],
    ['cifar10:nothing-here?label=fine', 'unknown query parameter "label"; cifar10 takes none'],
    ['imagefolder:nothing-here?size=0', 'query parameter size: expected N or HxW'],
    ['imagefolder:nothing-here?channels=4', 'query parameter channels'],
    ['voc:nothing-here?train=../../etc/passwd', 'query parameter train: expected an image-set name'],
    ['coco:nothing-here.json', 'query parameter test'],
    ['coco:a.json?test=b.json&images=', 'query parameter images: expected a path, got ""'],
  ])('refuses the dataset URI %s before creating a search', async (datasetUri, named) => {
    const before = await client.listSearches({ pageSize: 100, pageToken: '', state: 0 });
    const error = await failure(start({ datasetUri }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(`dataset_uri=${JSON.stringify(datasetUri)}`);
    expect(error.details).toContain(named);
    expect(error.details).not.toContain(dataRoot);
    const after = await client.listSearches({ pageSize: 100, pageToken: '', state: 0 });
    expect(after.searches).toHaveLength(before.searches.length);
  });

  it('answers NOT_FOUND for unknown ids and INVALID_ARGUMENT for none', async () => {
    for (const searchId of ['no-such-search', 'x'.repeat(5000), '../../etc/passwd']) {
      for (const call of [
        () => get(searchId),
        () => client.cancelSearch({ searchId }),
        () => client.watchAll(searchId),
      ]) {
        const error = await failure(call());
        expect(error.code).toBe(status.NOT_FOUND);
        expect(error.details).toContain('search');
        expect(error.details.length).toBeLessThan(300);
      }
    }
    const empty = await failure(get(''));
    expect(empty.code).toBe(status.INVALID_ARGUMENT);
    expect(empty.details).toContain('search_id');
  });

  it('fails a search whose dataset cannot be opened, with the reason', async () => {
    // Every parameter is in range, but the images would be more than the byte limit.
    const search = await start({ datasetUri: 'synthetic:shapes?size=512&train=1000000' });
    const events = await client.watchAll(search.id);
    expect(cases(events)).toEqual([
      'state:SEARCH_STATE_QUEUED',
      'state:SEARCH_STATE_RUNNING',
      'state:SEARCH_STATE_FAILED',
    ]);
    const failed = await get(search.id);
    expect(failed.state).toBe(SearchState.SEARCH_STATE_FAILED);
    expect(failed.error).toContain('more than the limit');
  });

  it('refuses an oversized message with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const huge = await failure(start({ datasetUri: `synthetic:${'x'.repeat(100_000)}` }));
    expect(huge.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await get(finished.id)).state).toBe(SearchState.SEARCH_STATE_SUCCEEDED);
    expect(lines.some((l) => l.level === 'error')).toBe(false);
  });
});

describe('the search service process', () => {
  it('resumes a search after kill -9 to the uninterrupted result, and loses nothing acknowledged', async () => {
    const config = tinyConfig({ generations: 3 });
    const first = await spawnService();
    let remote = searchClient(first.port);
    const search = (await remote.startSearch({ datasetUri, seed: 11, config })).search as Search;
    const waiting = (await remote.startSearch({ datasetUri, seed: 12, config })).search as Search;
    const cancelled = (await remote.startSearch({ datasetUri, seed: 13, config })).search as Search;
    await remote.cancelSearch({ searchId: cancelled.id });

    // Kill the process as soon as the first generation is checkpointed and reported.
    await firstMessage(
      remote.watchSearch({ searchId: search.id, afterSequence: '0' }),
      (m) => m.event?.$case === 'generationReport',
    );
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    remote.close();

    const second = await spawnService();
    remote = searchClient(second.port);
    // The queued search and the cancelled one survived the kill as they were.
    const get = async (searchId: string): Promise<Search> =>
      (await remote.getSearch({ searchId })).search as Search;
    expect((await get(cancelled.id)).state).toBe(SearchState.SEARCH_STATE_CANCELLED);
    expect((await get(waiting.id)).state).toBe(SearchState.SEARCH_STATE_QUEUED);
    await remote.cancelSearch({ searchId: waiting.id });

    const events = await remote.watchAll(search.id);
    expect(events.map((m) => m.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(states(events)).toEqual([
      'SEARCH_STATE_QUEUED',
      'SEARCH_STATE_RUNNING',
      'SEARCH_STATE_RUNNING',
      'SEARCH_STATE_SUCCEEDED',
    ]);
    const resumedBecause = events.flatMap((m) =>
      m.event?.$case === 'stateChange' && m.event.value.state === SearchState.SEARCH_STATE_RUNNING
        ? [m.event.value.reason]
        : [],
    );
    expect(resumedBecause[1]).toBe('resumed after a restart from the checkpoint of generation 1 of 3');
    // Every generation reported exactly once, in order, across the two processes.
    expect(generationReports(events)).toEqual([0, 1, 2]);
    const resumed = await get(search.id);
    expect(resumed.state).toBe(SearchState.SEARCH_STATE_SUCCEEDED);
    expect(resumed.resumes).toBe(1);
    expect(resumed.progress?.generationsDone).toBe(3);

    // The same search without a kill ends with the same result.
    const uninterrupted = (await remote.startSearch({ datasetUri, seed: 11, config })).search as Search;
    const reference = await remote.watchAll(uninterrupted.id);
    expect(states(reference).at(-1)).toBe('SEARCH_STATE_SUCCEEDED');
    const final = await get(uninterrupted.id);
    expect(resumed.best).toEqual(final.best);
    const losses = (messages: WatchSearchResponse[]): number[][] =>
      messages.flatMap((m) =>
        m.event?.$case === 'generationReport' ? [m.event.value.population.map((c) => c.valLoss)] : [],
      );
    expect(losses(events)).toEqual(losses(reference));

    // SIGTERM drains and exits cleanly.
    remote.close();
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });

  // A search far from its next safe point: one comparison of this size takes minutes on 2 cores,
  // so a cancellation stays CANCELLING and only terminating the worker can stop it.
  const slowConfig = tinyConfig({
    population: 4,
    generations: 5,
    layers: 5,
    channels: 16,
    batchSize: 64,
    trainImages: 20_000,
    valImages: 1_000,
    primitives: [],
  });
  const slowDataset = 'synthetic:shapes?size=32&channels=3&train=21000&test=10';

  it('stops on SIGTERM in every job state: queued, running, cancelling', async () => {
    const stateDir = path.join(dir, 'sigterm-state');
    const flags = ['--max-running-searches', '1', '--shutdown-grace-ms', '500'];
    const first = await spawnService(stateDir, flags);
    let remote = searchClient(first.port);
    const get = async (searchId: string): Promise<Search> =>
      (await remote.getSearch({ searchId })).search as Search;
    const a = (await remote.startSearch({ datasetUri: slowDataset, seed: 1, config: slowConfig }))
      .search as Search;
    const b = (await remote.startSearch({ datasetUri: slowDataset, seed: 2, config: slowConfig }))
      .search as Search;
    // The worker has started its first comparison once it reported the comparisons per generation.
    await pollUntil(async () => ((await get(a.id)).progress?.comparisons ?? 0) > 0);
    expect((await get(a.id)).state).toBe(SearchState.SEARCH_STATE_RUNNING);
    expect((await get(b.id)).state).toBe(SearchState.SEARCH_STATE_QUEUED);
    // Cancel, then SIGTERM before the worker reaches a safe point: the shutdown must not wait for it.
    expect((await remote.cancelSearch({ searchId: a.id })).search?.state).toBe(
      SearchState.SEARCH_STATE_CANCELLING,
    );
    remote.close();
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });

    // The cancelling search was recorded as cancelled; the queued one is still queued and runs now.
    const second = await spawnService(stateDir, flags);
    remote = searchClient(second.port);
    expect((await get(a.id)).state).toBe(SearchState.SEARCH_STATE_CANCELLED);
    await pollUntil(async () => (await get(b.id)).state === SearchState.SEARCH_STATE_RUNNING);
    remote.close();
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });

    // The running one stayed RUNNING and resumes.
    const third = await spawnService(stateDir, flags);
    remote = searchClient(third.port);
    await pollUntil(async () => (await get(b.id)).resumes === 1);
    expect((await get(b.id)).state).toBe(SearchState.SEARCH_STATE_RUNNING);
    await remote.cancelSearch({ searchId: b.id });
    remote.close();
    third.child.kill('SIGTERM');
    expect(await third.exited).toEqual({ code: 0, signal: null });
  });
});
