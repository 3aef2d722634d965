// `rnas search start|watch|get|list|cancel` against a fake search service (canned answers, the
// requests recorded), and the dispatch between the client and the local `rnas search`.
import { FailedPreconditionError, NotFoundError, startFakeService, type FakeService } from '@rnas/grpc';
import {
  SearchServiceService,
  SearchState,
  type Search,
  type StartSearchRequest,
  type WatchSearchResponse,
} from '@rnas/proto';
import { rnas } from '../test-util';

const GENOTYPE = {
  normal: [
    { op: 'skip_connect', input: 0 },
    { op: 'sep_conv_3x3', input: 1 },
  ],
  normalConcat: [2],
  reduce: [
    { op: 'max_pool_3x3', input: 0 },
    { op: 'skip_connect', input: 1 },
  ],
  reduceConcat: [2],
};

function search(state: SearchState, overrides: Partial<Search> = {}): Search {
  return {
    id: 's-1',
    state,
    config: { strategy: 1, population: 4, generations: 2, primitives: [] },
    datasetUri: 'synthetic:shapes',
    seed: 3,
    createdUnixMs: 1,
    startedUnixMs: 2,
    finishedUnixMs: 0,
    progress: {
      generationsDone: 0,
      generations: 2,
      comparisonsDone: 0,
      comparisons: 2,
      candidatesEvaluated: 0,
      imagesPerSecond: 0,
      etaMs: 0,
    },
    best: { genotype: GENOTYPE, valLoss: 0.5, valAccuracy: 0.75, generation: 1, member: 0 },
    artifacts: undefined,
    error: '',
    resumes: 0,
    owner: 'anonymous',
    ...overrides,
  };
}

const candidate = (index: number, valLoss: number) => ({
  index,
  genotype: GENOTYPE,
  encoding: [],
  trainLoss: 1,
  valLoss,
  valAccuracy: 0.5,
  diverged: false,
});

const HISTORY: WatchSearchResponse['event'][] = [
  {
    $case: 'stateChange',
    value: { state: SearchState.SEARCH_STATE_QUEUED, reason: 'accepted', search: search(1) },
  },
  {
    $case: 'stateChange',
    value: { state: SearchState.SEARCH_STATE_RUNNING, reason: 'started', search: search(2) },
  },
  {
    $case: 'pairResult',
    value: {
      generation: 0,
      pair: 0,
      teacher: candidate(1, 0.9),
      student: candidate(0, 1.2),
      imagesPerSecond: 40,
    },
  },
  {
    $case: 'generationReport',
    value: {
      generation: 0,
      learningRate: 0.1,
      dropPath: 0,
      population: [],
      pairs: [],
      diversity: 1.5,
      best: { genotype: GENOTYPE, valLoss: 0.9, valAccuracy: 0.5, generation: 0, member: 0 },
      imagesPerSecond: 40,
      durationMs: 2000,
      etaMs: 2000,
    },
  },
  {
    $case: 'stateChange',
    value: { state: SearchState.SEARCH_STATE_SUCCEEDED, reason: 'finished', search: search(4) },
  },
];

let fake: FakeService;
let address: string;
const started: StartSearchRequest[] = [];

beforeAll(async () => {
  fake = await startFakeService(SearchServiceService, {
    startSearch: (request) => {
      started.push(request);
      return { search: search(SearchState.SEARCH_STATE_QUEUED) };
    },
    getSearch: (request) => {
      if (request.searchId !== 's-1') throw new NotFoundError('search', request.searchId);
      return { search: search(SearchState.SEARCH_STATE_SUCCEEDED) };
    },
    listSearches: (request) => ({
      searches:
        request.state === SearchState.SEARCH_STATE_FAILED ? [] : [search(SearchState.SEARCH_STATE_RUNNING)],
      nextPageToken: request.pageToken === '' ? 'next' : '',
    }),
    cancelSearch: (request) => {
      if (request.searchId === 's-1') throw new FailedPreconditionError('search "s-1" has succeeded');
      return { search: search(SearchState.SEARCH_STATE_CANCELLING, { id: request.searchId }) };
    },
    watchSearch: async function* (request) {
      if (request.searchId !== 's-1') throw new NotFoundError('search', request.searchId);
      for (const [i, event] of HISTORY.entries()) {
        if (i + 1 > Number(request.afterSequence))
          yield { sequence: i + 1, timeUnixMs: 0, replayed: true, event };
      }
    },
  });
  address = fake.address;
});

afterAll(() => fake.server.shutdown());

describe('rnas search (client)', () => {
  it('starts a search with the flags given and only those, and prints its id', async () => {
    const r = await rnas([
      'search',
      'start',
      '--addr',
      address,
      '--dataset',
      'synthetic:shapes',
      '--population',
      '6',
      '--strategy',
      'random',
      '--primitives',
      'skip_connect, sep_conv_3x3',
      '--seed',
      '9',
      '--lr-max',
      '0.05',
    ]);
    expect(r).toMatchObject({ code: 0, out: 's-1\n' });
    expect(r.err).toContain('rnas search watch s-1');
    const request = started.at(-1);
    expect(request).toMatchObject({ datasetUri: 'synthetic:shapes', seed: 9 });
    expect(request?.config).toMatchObject({
      strategy: 2,
      population: 6,
      lrMax: 0.05,
      primitives: ['skip_connect', 'sep_conv_3x3'],
    });
    expect(request?.config?.generations).toBeUndefined();
  });

  it('watches a search to its end, one line per event, and prints the best genotype', async () => {
    const r = await rnas(['search', 'watch', 's-1'], { env: { RNAS_SEARCH_ADDR: address } });
    expect(r.code).toBe(0);
    expect(r.err).toContain('RUNNING: started');
    expect(r.err).toContain(
      'generation 1 pair 1: teacher 1 (val loss 0.9000), student 0 (val loss 1.2000), 40 img/s',
    );
    expect(r.err).toContain('generation 1 done in 0m02s');
    expect(r.err).toContain('SUCCEEDED: finished');
    expect(JSON.parse(r.out)).toEqual({
      normal: [
        ['skip_connect', 0],
        ['sep_conv_3x3', 1],
      ],
      normalConcat: [2],
      reduce: [
        ['max_pool_3x3', 0],
        ['skip_connect', 1],
      ],
      reduceConcat: [2],
    });
    const json = await rnas(['search', 'watch', 's-1', '--after', '3', '--json', '--addr', address]);
    expect(
      json.out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { sequence: number }).sequence),
    ).toEqual([4, 5]);
  });

  it('draws a progress bar on a terminal', async () => {
    const r = await rnas(['search', 'watch', 's-1', '--addr', address], { tty: true });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/generation 1\/2 \[[^\]]*\] pair 1\/2 \| best loss/);
  });

  it('shows, lists and cancels searches, and reports service errors in one line', async () => {
    const got = await rnas(['search', 'get', 's-1', '--addr', address]);
    expect(got.out).toContain('search s-1: SUCCEEDED');
    expect(got.out).toContain('best: validation loss 0.5000, accuracy 75.0% (generation 1)');
    const listed = await rnas(['search', 'list', '--addr', address]);
    expect(listed.out).toMatch(/^s-1 {2}RUNNING/);
    expect(listed.err).toContain('--page-token next');
    expect((await rnas(['search', 'list', '--state', 'failed', '--addr', address])).out).toBe(
      'no searches\n',
    );
    const badState = await rnas(['search', 'list', '--state', 'sleeping', '--addr', address]);
    expect(badState.code).toBe(1);
    expect(badState.err).toContain('--state');
    expect((await rnas(['search', 'cancel', 's-2', '--addr', address])).out).toBe('search s-2: CANCELLING\n');
    const refused = await rnas(['search', 'cancel', 's-1', '--addr', address]);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(
      `rnas: cannot cancel the search at ${address}: FAILED_PRECONDITION: search "s-1" has succeeded\n`,
    );
    const missing = await rnas(['search', 'watch', 'nope', '--addr', address]);
    expect(missing.err).toContain('NOT_FOUND');
    const unreachable = await rnas(['search', 'get', 's-1'], { env: { RNAS_SEARCH_ADDR: '127.0.0.1:1' } });
    expect(unreachable.err).toContain('is `rnas serve search` running there? set --addr or RNAS_SEARCH_ADDR');
    // grpc-js's empty "Resolution note:" is not passed on.
    expect(unreachable.err).not.toContain('Resolution note');
  });

  it('leaves every other `rnas search` to the local search, and checks its own flags', async () => {
    const local = await rnas(['search', '--out', '/tmp/nowhere']);
    expect(local.code).not.toBe(0);
    expect(local.err).toMatch(/required option '--dataset <uri>'/);
    const help = await rnas(['search', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: rnas search \[options\]/);
    expect(help.out).toContain('--resume');
    expect(help.out).toContain('rnas search start|watch|get|list|cancel');
    const noDataset = await rnas(['search', 'start', '--addr', address]);
    expect(noDataset.code).not.toBe(0);
    expect(noDataset.err).toMatch(/required option '--dataset <uri>'/);
    const badNumber = await rnas([
      'search',
      'start',
      '--dataset',
      'x',
      '--population',
      '-4',
      '--addr',
      address,
    ]);
    expect(badNumber.err).toMatch(/--population.*-4/);
  });
});
