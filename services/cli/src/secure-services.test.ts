// The search and training services as a cluster would run them: both with TLS and --auth-tokens,
// calling each other with their peer credentials (--peer-tls-ca, --peer-token-file): the search's
// candidates evaluated by the training service (--evaluators), the training service asking the
// search service for a search's genotype (--search-addr). Users alice and bob, admin root, and the
// services' own admin subject share one token file. Checked: alice's search runs on the remote
// evaluator and alice can train from it; bob gets the NOT_FOUND of an unknown id for it; a peer
// token the other side does not list (or a user's) fails the request or the search at once,
// naming the peer service and the status; and `rnas search list` over TLS with a token shows a
// user their own searches, an admin all.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { temporaryDataRoot } from '@rnas/data';
import {
  buildPackage,
  callFailure,
  collectStream,
  createClient,
  freePorts,
  makeCa,
  makeCert,
  memoryLogger,
  newToken,
  spawnServiceProcess,
  tokenEntryLine,
  type PromiseClient,
} from '@rnas/grpc';
import {
  SearchServiceService,
  SearchState,
  SearchStrategy,
  Task,
  TrainingServiceService,
  type Search,
  type StartTrainingRequest,
} from '@rnas/proto';
import { loadSearchServiceConfig, startSearchService, type RunningService } from '@rnas/search-service';
import { rnas } from './test-util';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TRAINING_MAIN = path.join(ROOT, 'services', 'training', 'dist', 'main.js');

let dir: string;
let dataDir: string;
let datasetUri: string;
let caFile: string;
let searchPeerToken: string;
let trainingPeerToken: string;
let searchAddress: string;
let trainingAddress: string;
const services: { close(): Promise<void> }[] = [];
const clients: { close(): void }[] = [];

const tokens = { alice: newToken(), bob: newToken(), root: newToken(), peer: newToken() };

function searchClient(token: string): PromiseClient<typeof SearchServiceService> {
  const client = createClient(SearchServiceService, searchAddress, {
    tls: { ca: readCa() },
    token,
    defaultDeadlineMs: 30_000,
  });
  clients.push(client);
  return client;
}

function trainingClient(token: string): PromiseClient<typeof TrainingServiceService> {
  const client = createClient(TrainingServiceService, trainingAddress, {
    tls: { ca: readCa() },
    token,
    defaultDeadlineMs: 30_000,
  });
  clients.push(client);
  return client;
}

const readCa = (): Buffer => readFileSync(caFile);

/** Replaces a peer token file the way a Secret update does (a new file), with `token`. */
function writePeerToken(file: string, token: string): void {
  rmSync(file, { force: true });
  writeFileSync(file, `${token}\n`);
}

/** A tiny search: 4 members, 2 generations, 3 cells of 4 channels, a few images. */
async function startSearch(token: string): Promise<Search> {
  const response = await searchClient(token).startSearch({
    datasetUri,
    seed: 1,
    config: {
      strategy: SearchStrategy.SEARCH_STRATEGY_RELATIVENAS,
      population: 4,
      generations: 2,
      layers: 3,
      channels: 4,
      batchSize: 8,
      trainImages: 16,
      valImages: 8,
      cutout: 4,
      primitives: ['max_pool_3x3', 'skip_connect', 'sep_conv_3x3'],
      workers: 1,
    },
  });
  return response.search as Search;
}

/** The search once it has ended (its watch stream closes then). */
async function finished(token: string, id: string): Promise<Search> {
  const client = searchClient(token);
  await collectStream(client.watchSearch({ searchId: id, afterSequence: '0' }));
  return (await client.getSearch({ searchId: id })).search as Search;
}

function trainFrom(searchId: string): StartTrainingRequest {
  return {
    architecture: { $case: 'searchId', value: searchId },
    spec: {
      variant: 0,
      channels: 4,
      layers: 3,
      classes: 0,
      inputChannels: 0,
      inputSize: 0,
      auxiliary: false,
    },
    datasetUri,
    recipe: { epochs: 1, batchSize: 8, learningRate: 0.05, cutout: 0, learningRateSchedule: 0, seed: 1 },
    modelName: 'secure',
    task: Task.TASK_UNSPECIFIED,
    detection: undefined,
  };
}

beforeAll(async () => {
  buildPackage(ROOT, 'services/search');
  buildPackage(ROOT, 'services/training');
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-secure-services-'));
  const data = await temporaryDataRoot('rnas-secure-data-', { train: 48, test: 6, seed: 5 });
  dataDir = data.dir;
  datasetUri = data.datasetUri;
  const ca = makeCa(dir, 'ca');
  caFile = ca.cert;
  const server = makeCert(dir, 'server', ca, { cn: 'localhost', usage: 'server' });
  const tokenFile = path.join(dir, 'tokens.jsonl');
  writeFileSync(
    tokenFile,
    [
      tokenEntryLine(tokens.alice, 'alice', 'user'),
      tokenEntryLine(tokens.bob, 'bob', 'user'),
      tokenEntryLine(tokens.root, 'root', 'admin'),
      tokenEntryLine(tokens.peer, 'rnas-services', 'admin'),
      '',
    ].join('\n'),
  );
  searchPeerToken = path.join(dir, 'search-peer-token');
  trainingPeerToken = path.join(dir, 'training-peer-token');
  writePeerToken(searchPeerToken, tokens.peer);
  writePeerToken(trainingPeerToken, tokens.peer);
  const secure = (stateDir: string): string[] => [
    ...['--metrics-port', '0', '--state-dir', path.join(dir, stateDir), '--data-root', data.dataRoot],
    ...['--tls-cert', server.cert, '--tls-key', server.key, '--auth-tokens', tokenFile],
    ...['--peer-tls-ca', ca.cert],
  ];
  // Each names the other: the search service's port is chosen first.
  const [searchPort] = await freePorts(1);
  searchAddress = `127.0.0.1:${searchPort}`;
  // A process of its own, as in a cluster: EvaluatePair's tensors come back from worker threads,
  // which jest's sandbox would not take for its own Float32Arrays.
  const training = await spawnServiceProcess(TRAINING_MAIN, [
    ...secure('training'),
    ...['--port', '0', '--model-repo', path.join(dir, 'models')],
    ...['--search-addr', searchAddress, '--peer-token-file', trainingPeerToken],
  ]);
  services.push({
    close: async () => {
      training.child.kill('SIGTERM');
      await training.exited;
    },
  });
  trainingAddress = `127.0.0.1:${training.port}`;
  const search: RunningService = await startSearchService(
    loadSearchServiceConfig(
      [
        ...secure('search'),
        ...['--port', String(searchPort), '--evaluators', trainingAddress],
        ...['--evaluator-deadline-ms', '60000'],
      ],
      // The environment works as the flag does.
      { RNAS_PEER_TOKEN_FILE: searchPeerToken },
    ),
    { logger: memoryLogger('search').logger, shutdownSignals: [] },
  );
  services.push(search);
}, 600_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(services.map((s) => s.close()));
  for (const folder of [dir, dataDir]) if (folder) rmSync(folder, { recursive: true, force: true });
});

describe('search and training with TLS, tokens and peer credentials', () => {
  let alicesSearch: Search;
  let bobsSearch: Search;

  it("runs alice's search on the remote evaluator, and trains from it for alice (and an admin) only", async () => {
    const started = await startSearch(tokens.alice);
    alicesSearch = await finished(tokens.alice, started.id);
    expect({ state: SearchState[alicesSearch.state], error: alicesSearch.error }).toEqual({
      state: 'SEARCH_STATE_SUCCEEDED',
      error: '',
    });
    expect(alicesSearch.owner).toBe('alice');

    const accepted = (await trainingClient(tokens.alice).startTraining(trainFrom(alicesSearch.id))).training;
    expect(accepted).toMatchObject({ searchId: alicesSearch.id, owner: 'alice' });
    expect(accepted?.spec?.genotype).toEqual(alicesSearch.best?.genotype);
    await trainingClient(tokens.alice).cancelTraining({ trainingId: accepted?.id ?? '' });

    // Bob cannot tell alice's search from one that does not exist.
    const unknownId = randomUUID();
    const others = await callFailure(trainingClient(tokens.bob).startTraining(trainFrom(alicesSearch.id)));
    const unknown = await callFailure(trainingClient(tokens.bob).startTraining(trainFrom(unknownId)));
    expect(others.code).toBe(status.NOT_FOUND);
    expect(unknown.code).toBe(status.NOT_FOUND);
    expect(others.details.replace(alicesSearch.id, '<id>')).toBe(unknown.details.replace(unknownId, '<id>'));
    expect(others.details).toBe(`search "${alicesSearch.id}" not found`);

    const asRoot = (await trainingClient(tokens.root).startTraining(trainFrom(alicesSearch.id))).training;
    expect(asRoot).toMatchObject({ searchId: alicesSearch.id, owner: 'root' });
    await trainingClient(tokens.root).cancelTraining({ trainingId: asRoot?.id ?? '' });
    const trainings = (
      await trainingClient(tokens.root).listTrainings({ pageSize: 0, pageToken: '', state: 0 })
    ).trainings;
    expect(trainings.map((t) => t.owner).sort()).toEqual(['alice', 'root']);
  });

  it("answers StartTraining FAILED_PRECONDITION naming the search service and UNAUTHENTICATED when it refuses the training service's peer token", async () => {
    writePeerToken(trainingPeerToken, newToken());
    try {
      const refused = await callFailure(
        trainingClient(tokens.alice).startTraining(trainFrom(alicesSearch.id)),
      );
      expect(refused.code).toBe(status.FAILED_PRECONDITION);
      expect(refused.details).toContain(
        `cannot ask the search service at ${searchAddress} (--search-addr) for search "${alicesSearch.id}": ` +
          'UNAUTHENTICATED unknown bearer token',
      );
      expect(refused.details).toContain('--peer-token-file');
    } finally {
      writePeerToken(trainingPeerToken, tokens.peer);
    }
    // The file is re-read at the next call: no restart needed.
    const accepted = (await trainingClient(tokens.alice).startTraining(trainFrom(alicesSearch.id))).training;
    expect(accepted?.searchId).toBe(alicesSearch.id);
    await trainingClient(tokens.alice).cancelTraining({ trainingId: accepted?.id ?? '' });
  });

  it('fails a search at once, naming the training service and the status, when the evaluator refuses the peer token', async () => {
    writePeerToken(searchPeerToken, newToken());
    try {
      bobsSearch = await finished(tokens.bob, (await startSearch(tokens.bob)).id);
    } finally {
      writePeerToken(searchPeerToken, tokens.peer);
    }
    expect(SearchState[bobsSearch.state]).toBe('SEARCH_STATE_FAILED');
    expect(bobsSearch.error).toContain(
      `evaluator ${trainingAddress} (a training service, --evaluators) answered UNAUTHENTICATED: unknown bearer token`,
    );
    expect(bobsSearch.error).toContain('--peer-token-file');

    // A user's token is no peer credential: EvaluatePair is for admins (the search services).
    writePeerToken(searchPeerToken, tokens.alice);
    let usersSearch: Search;
    try {
      usersSearch = await finished(tokens.alice, (await startSearch(tokens.alice)).id);
    } finally {
      writePeerToken(searchPeerToken, tokens.peer);
    }
    expect(SearchState[usersSearch.state]).toBe('SEARCH_STATE_FAILED');
    expect(usersSearch.error).toContain(
      `evaluator ${trainingAddress} (a training service, --evaluators) answered PERMISSION_DENIED: ` +
        'EvaluatePair is for search services: "alice" is not an admin',
    );
  });

  it('lists over TLS with a token, through the CLI: a user their own searches, an admin all', async () => {
    const list = async (token: string | undefined, env: NodeJS.ProcessEnv = {}): Promise<string[]> => {
      const args = ['search', 'list', '--addr', searchAddress, '--tls-ca', caFile, '--json'];
      const { code, out, err } = await rnas(token === undefined ? args : [...args, '--token', token], {
        env,
      });
      expect({ code, err }).toEqual({ code: 0, err: '' });
      return ((JSON.parse(out) as { searches?: { id: string }[] }).searches ?? []).map((s) => s.id).sort();
    };
    const alices = await list(tokens.alice);
    expect(alices).toHaveLength(2);
    expect(alices).toContain(alicesSearch.id);
    expect(await list(undefined, { RNAS_TOKEN: tokens.bob })).toEqual([bobsSearch.id]);
    expect(await list(tokens.root)).toEqual([...alices, bobsSearch.id].sort());

    // No token: refused, saying how to pass one; no TLS: nothing answers.
    const anonymous = await rnas(['search', 'list', '--addr', searchAddress, '--tls-ca', caFile]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.err).toMatch(/cannot list the searches at .*: UNAUTHENTICATED: .*--token or RNAS_TOKEN/);
    const plaintext = await rnas(['search', 'list', '--addr', searchAddress, '--token', tokens.root]);
    expect(plaintext.code).toBe(1);
    expect(plaintext.err).toContain('UNAVAILABLE');
  });
});
