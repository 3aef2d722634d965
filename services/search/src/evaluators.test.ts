// A local stand-in for the cluster: the search service with two training services as its
// evaluators (--evaluators host:port,host:port; each a process of its own, the built
// services/training/dist/main.js), on loopback. A search across them equals the same search with
// the service's own threads, and still does when one evaluator is killed with SIGKILL in the middle
// of a generation: its candidates are sent to the other.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  buildPackage,
  callFailure,
  createClient,
  firstMessage,
  sampleValue,
  scrapeLocalMetrics,
  spawnServiceProcess,
  type ServiceProcess,
} from '@rnas/grpc';
import { status } from '@grpc/grpc-js';
import {
  EvaluatePairRequest,
  SearchState,
  TrainingServiceService,
  type Search,
  type WatchSearchResponse,
} from '@rnas/proto';
import { loadSearchServiceConfig } from './config';
import { startSearchService, type RunningService } from './service';
import {
  buildService,
  memoryLogger,
  ROOT,
  searchClient,
  tinyConfig,
  tinyDataRoot,
  type SearchClient,
} from './test-util';

const TRAINING_MAIN = path.join(ROOT, 'services', 'training', 'dist', 'main.js');

let dir: string;
let dataDir: string;
let dataRoot: string;
let datasetUri: string;
const children: ChildProcess[] = [];
let evaluators: ServiceProcess[];
let local: RunningService;
let remote: RunningService;
let localClient: SearchClient;
let remoteClient: SearchClient;
let remoteLogs: Record<string, unknown>[];

function startTraining(name: string): Promise<ServiceProcess> {
  return spawnServiceProcess(TRAINING_MAIN, [
    ...['--port', '0', '--metrics-port', '0'],
    ...['--state-dir', path.join(dir, name, 'state'), '--model-repo', path.join(dir, name, 'models')],
    ...['--data-root', dataRoot],
  ]).then((started) => {
    children.push(started.child);
    return started;
  });
}

async function startSearch(
  stateDir: string,
  extra: string[],
): Promise<{ service: RunningService; logs: Record<string, unknown>[] }> {
  const { logger, lines } = memoryLogger();
  const config = loadSearchServiceConfig(
    ['--port', '0', '--metrics-port', '0', '--state-dir', stateDir, '--data-root', dataRoot, ...extra],
    {},
  );
  return { service: await startSearchService(config, { logger, shutdownSignals: [] }), logs: lines };
}

beforeAll(async () => {
  buildService();
  buildPackage(ROOT, 'services/training');
  const data = await tinyDataRoot();
  ({ dataRoot, datasetUri } = data);
  dataDir = data.dir;
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-evaluators-'));
  evaluators = await Promise.all([startTraining('a'), startTraining('b')]);
  const targets = evaluators.map((e) => `127.0.0.1:${e.port}`).join(',');
  local = (await startSearch(path.join(dir, 'local'), [])).service;
  const started = await startSearch(path.join(dir, 'remote'), [
    '--evaluators',
    targets,
    '--evaluator-deadline-ms',
    '60000',
  ]);
  remote = started.service;
  remoteLogs = started.logs;
  localClient = searchClient(local.port);
  remoteClient = searchClient(remote.port);
}, 600_000);

afterAll(async () => {
  localClient?.close();
  remoteClient?.close();
  await Promise.all([local?.close(), remote?.close()]);
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const folder of [dir, dataDir]) if (folder) rmSync(folder, { recursive: true, force: true });
});

/** Every generation's population losses and the best genotype of a finished search. */
async function outcome(client: SearchClient, id: string): Promise<{ losses: number[][]; best: unknown }> {
  const events = await client.watchAll(id);
  const states = events.flatMap((m) =>
    m.event?.$case === 'stateChange' ? [SearchState[m.event.value.state]] : [],
  );
  expect(states.at(-1)).toBe('SEARCH_STATE_SUCCEEDED');
  const losses = events.flatMap((m: WatchSearchResponse) =>
    m.event?.$case === 'generationReport' ? [m.event.value.population.map((c) => c.valLoss)] : [],
  );
  const search = (await client.getSearch({ searchId: id })).search as Search;
  return { losses, best: search.best };
}

const metric = async (port: number | undefined, series: string): Promise<number> =>
  sampleValue(await scrapeLocalMetrics(port ?? 0), series);

describe('EvaluatePair on a training service', () => {
  it('refuses what it cannot evaluate, naming the field', async () => {
    const client = createClient(TrainingServiceService, `127.0.0.1:${evaluators[0].port}`);
    try {
      const codeOf = async (request: EvaluatePairRequest): Promise<[number, string]> => {
        const error = await callFailure(client.evaluatePair(request));
        return [error.code, error.details];
      };
      const request = EvaluatePairRequest.fromPartial;
      expect(await codeOf(request({}))).toEqual([
        status.INVALID_ARGUMENT,
        'invalid setup=undefined: required',
      ]);
      const setup = { datasetUri: 'imagefolder:/etc', trainPortion: 0.5, seed: 1 };
      const [code, details] = await codeOf(request({ setup, candidates: [{}] }));
      expect(code).toBe(status.INVALID_ARGUMENT);
      expect(details).toContain('setup.dataset_uri');
      expect(await codeOf(request({ setup: { ...setup, datasetUri }, candidates: [] }))).toEqual([
        status.INVALID_ARGUMENT,
        'invalid candidates="0 candidates": expected 1 to 256',
      ]);
      const [crc, why] = await codeOf(
        request({
          setup: {
            ...setup,
            datasetUri,
            searchTrainImages: 24,
            searchValImages: 24,
            classes: 3,
            dataCrc32: 1,
          },
          candidates: [{}],
        }),
      );
      expect(crc).toBe(status.INVALID_ARGUMENT);
      expect(why).toMatch(/setup\.data_crc32=1: .*must read the same dataset/);
    } finally {
      client.close();
    }
  });
});

describe('a search on remote evaluators', () => {
  it('equals the same search on local threads, bit for bit, and spreads over every evaluator', async () => {
    const config = tinyConfig({ generations: 2, pairsPerWave: 2 });
    const [a, b] = await Promise.all([
      localClient.startSearch({ datasetUri, seed: 21, config }),
      remoteClient.startSearch({ datasetUri, seed: 21, config }),
    ]);
    const [mine, theirs] = await Promise.all([
      outcome(localClient, (a.search as Search).id),
      outcome(remoteClient, (b.search as Search).id),
    ]);
    expect(theirs.losses).toHaveLength(2);
    expect(theirs.losses).toEqual(mine.losses);
    expect(theirs.best).toEqual(mine.best);
    // Both evaluators worked (4 members x 2 generations, 2 pairs of 2 at once), and the weights
    // went as raw bytes (a few tens of kB per candidate for this network).
    for (const evaluator of evaluators) {
      const port = evaluator.logs.find((l) => l.msg === 'serving')?.metricsPort as number | undefined;
      expect(await metric(port, 'rnas_training_search_evaluations_total{outcome="ok"}')).toBeGreaterThan(0);
    }
    const sent = await Promise.all(
      evaluators.map((e) =>
        metric(remote.metricsPort, `rnas_search_evaluator_bytes_sent_total{evaluator="127.0.0.1:${e.port}"}`),
      ),
    );
    expect(sent.every((bytes) => bytes > 8 * 1000)).toBe(true);
  });

  it('finishes with the same result when an evaluator is killed in the middle of a generation', async () => {
    const config = tinyConfig({ generations: 3, pairsPerWave: 2 });
    const reference = (await localClient.startSearch({ datasetUri, seed: 22, config })).search as Search;
    const search = (await remoteClient.startSearch({ datasetUri, seed: 22, config })).search as Search;
    // The first comparison of generation 1 is in: the rest of that generation is still to run.
    await firstMessage(
      remoteClient.watchSearch({ searchId: search.id, afterSequence: '0' }),
      (m) => m.event?.$case === 'pairResult' && m.event.value.generation === 1,
    );
    evaluators[1].child.kill('SIGKILL');
    expect((await evaluators[1].exited).signal).toBe('SIGKILL');
    const [mine, theirs] = await Promise.all([
      outcome(localClient, reference.id),
      outcome(remoteClient, search.id),
    ]);
    expect(theirs.losses).toHaveLength(3);
    expect(theirs.losses).toEqual(mine.losses);
    expect(theirs.best).toEqual(mine.best);
    // The killed evaluator's candidates went to the other one.
    const killed = `127.0.0.1:${evaluators[1].port}`;
    expect(
      await metric(remote.metricsPort, `rnas_search_evaluator_retries_total{evaluator="${killed}"}`),
    ).toBeGreaterThan(0);
    expect(
      remoteLogs.some((l) => typeof l.msg === 'string' && l.msg.includes(`evaluator ${killed} failed`)),
    ).toBe(true);
  });
});
