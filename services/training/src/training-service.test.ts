// The training service over gRPC on an ephemeral port: a training that publishes a model, one
// from a succeeded search's id, cancellation within a batch, an interrupted training resumed by a
// new service on the same state directory, and bad input answered with the right code.
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { status } from '@grpc/grpc-js';
import {
  firstMessage,
  NotFoundError,
  pollUntil,
  spawnServiceProcess,
  startFakeService,
  type FakeService,
  type ServiceProcess,
} from '@rnas/grpc';
import { genotypeToProto, type Genotype } from '@rnas/nas';
import {
  LearningRateSchedule,
  NetworkVariant,
  Search,
  SearchServiceService,
  SearchState,
  TrainingState,
  type StartTrainingRequest,
  type Training,
  type WatchTrainingResponse,
} from '@rnas/proto';
import { listModels, loadPublishedModel } from '@rnas/model';
import { loadTrainingServiceConfig, type TrainingServiceConfig } from './config';
import { startTrainingService, type RunningService } from './service';
import {
  buildService,
  failure,
  ROOT,
  memoryLogger,
  serviceArgs,
  TINY_GENOTYPE,
  TINY_SPEC,
  tinyDataRoot,
  tinyRecipe,
  tinyRequest,
  trainingClient,
  type TrainingClient,
} from './test-util';

let dir: string;
let dataRoot: string;
let datasetUri: string;
let service: RunningService;
let client: TrainingClient;
let lines: Record<string, unknown>[];

function serviceConfig(): TrainingServiceConfig {
  return loadTrainingServiceConfig(
    [...serviceArgs(dir, dataRoot, searchService.address), '--max-message-bytes', '65536'],
    {},
  );
}

async function startService(): Promise<void> {
  const captured = memoryLogger();
  lines = captured.lines;
  service = await startTrainingService(serviceConfig(), { logger: captured.logger, shutdownSignals: [] });
  client = trainingClient(service.port);
}

/** What the fake succeeded search found (the JSON form of libs/nas's Genotype). */
const SEARCH_GENOTYPE = {
  normal: [
    ['skip_connect', 0],
    ['sep_conv_3x3', 1],
    ['max_pool_3x3', 2],
    ['skip_connect', 0],
  ],
  normalConcat: [2, 3],
  reduce: [
    ['avg_pool_3x3', 0],
    ['sep_conv_3x3', 1],
    ['skip_connect', 2],
    ['max_pool_3x3', 1],
  ],
  reduceConcat: [2, 3],
};

/** A search service that knows two searches: one succeeded with SEARCH_GENOTYPE, one running. */
async function fakeSearches(): Promise<FakeService> {
  const searches: Record<string, SearchState> = {
    'search-done': SearchState.SEARCH_STATE_SUCCEEDED,
    'search-busy': SearchState.SEARCH_STATE_RUNNING,
  };
  return startFakeService(SearchServiceService, {
    getSearch: ({ searchId }) => {
      const state = searches[searchId];
      if (state === undefined) throw new NotFoundError('search', searchId);
      askedFor.push(searchId);
      return {
        search: Search.fromPartial({
          id: searchId,
          state,
          best:
            state === SearchState.SEARCH_STATE_SUCCEEDED
              ? { genotype: genotypeToProto(SEARCH_GENOTYPE as Genotype), valLoss: 1 }
              : undefined,
        }),
      };
    },
  });
}

const askedFor: string[] = [];
let searchService: FakeService;

beforeAll(async () => {
  buildService();
  ({ dir, dataRoot, datasetUri } = await tinyDataRoot());
  searchService = await fakeSearches();
  await startService();
}, 300_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  client?.close();
  await service?.close();
  await searchService?.server.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

function start(request: StartTrainingRequest): Promise<Training> {
  return client.startTraining(request).then((r) => r.training as Training);
}

function get(trainingId: string): Promise<Training> {
  return client.getTraining({ trainingId }).then((r) => r.training as Training);
}

function cases(messages: WatchTrainingResponse[]): string[] {
  return messages.map((m) =>
    m.event?.$case === 'stateChange'
      ? `state:${TrainingState[m.event.value.state]}`
      : `epoch:${m.event?.value.epoch}`,
  );
}

async function firstEpoch(trainingId: string): Promise<void> {
  await firstMessage(
    client.watchTraining({ trainingId, afterSequence: '0' }),
    (m) => m.event?.$case === 'epochReport',
  );
}

describe('TrainingService', () => {
  let trained: Training;

  it('trains a genotype, reports every epoch and publishes the model', async () => {
    const queued = await start(tinyRequest(datasetUri));
    expect(queued.state).toBe(TrainingState.TRAINING_STATE_QUEUED);
    expect(queued.recipe).toMatchObject({
      epochs: 2,
      batchSize: 8,
      learningRate: 0.05,
      momentum: 0.9,
      seed: 11,
    });
    const events = await client.watchAll(queued.id);
    expect(cases(events)).toEqual([
      'state:TRAINING_STATE_QUEUED',
      'state:TRAINING_STATE_RUNNING',
      'epoch:1',
      'epoch:2',
      'state:TRAINING_STATE_SUCCEEDED',
    ]);
    for (const m of events) {
      if (m.event?.$case !== 'epochReport') continue;
      const r = m.event.value;
      expect(r.epochs).toBe(2);
      expect(Number.isFinite(r.trainLoss) && r.trainLoss > 0).toBe(true);
      expect(r.evalAccuracy).toBeGreaterThanOrEqual(0);
      expect(r.evalAccuracy).toBeLessThanOrEqual(1);
      expect(r.learningRate).toBeGreaterThan(0);
      expect(r.imagesPerSecond).toBeGreaterThan(0);
      expect(r.etaMs).toBeGreaterThanOrEqual(0);
    }
    trained = await get(queued.id);
    expect(trained.state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    expect(trained.model).toEqual({ name: 'tiny', version: 1, path: path.join(dir, 'models', 'tiny', '1') });
    expect(trained.progress).toMatchObject({ epochsDone: 2, epochs: 2, etaMs: 0 });
    expect(trained.lastEpoch?.epoch).toBe(2);
    // The dataset decided the classes and the input.
    expect(trained.spec).toMatchObject({
      channels: 4,
      layers: 3,
      classes: 3,
      inputChannels: 1,
      inputSize: 8,
    });
    expect(trained.spec?.genotype).toEqual(TINY_GENOTYPE);
    const artifact = await loadPublishedModel(path.join(dir, 'models'), 'tiny');
    expect(artifact.labels).toHaveLength(3);
    expect(artifact.spec.classes).toBe(3);
    expect(artifact.metadata.training_id).toBe(queued.id);
  });

  it('accepts every uint64 after_sequence: past 2^53 and up to 2^64-1 nothing comes after it', async () => {
    expect(await client.watchAll(trained.id, '9007199254740993')).toEqual([]);
    expect(await client.watchAll(trained.id, '18446744073709551615')).toEqual([]);
    expect((await client.watchAll(trained.id, '0')).map((m) => m.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect((await client.watchAll(trained.id, '3')).map((m) => m.sequence)).toEqual([4, 5]);
  });

  it('trains the result of a succeeded search named by its id', async () => {
    const training = await start(
      tinyRequest(datasetUri, {
        architecture: { $case: 'searchId', value: 'search-done' },
        modelName: 'from-search',
      }),
    );
    expect(training.searchId).toBe('search-done');
    expect(training.spec?.genotype?.reduce).toEqual(
      SEARCH_GENOTYPE.reduce.map(([op, input]) => ({ op, input })),
    );
    const events = await client.watchAll(training.id);
    expect(cases(events).at(-1)).toBe('state:TRAINING_STATE_SUCCEEDED');
    expect((await get(training.id)).model?.name).toBe('from-search');

    const busy = await failure(
      start(tinyRequest(datasetUri, { architecture: { $case: 'searchId', value: 'search-busy' } })),
    );
    expect(busy.code).toBe(status.FAILED_PRECONDITION);
    expect(busy.details).toContain('running');
    for (const id of ['no-such-search', '../../etc', 'x'.repeat(300)]) {
      const unknown = await failure(
        start(tinyRequest(datasetUri, { architecture: { $case: 'searchId', value: id } })),
      );
      expect(unknown.code).toBe(status.NOT_FOUND);
    }
    // The genotype came from the search service (GetSearch), asked with the ids as given.
    expect(askedFor).toEqual(['search-done', 'search-busy']);
  });

  it('cancels a running training within one batch and publishes nothing', async () => {
    const training = await start(
      tinyRequest(datasetUri, { modelName: 'never-published', recipe: tinyRecipe({ epochs: 200 }) }),
    );
    await firstEpoch(training.id);
    const cancelling = await client.cancelTraining({
      trainingId: training.id,
    });
    expect(cancelling.training?.state).toBe(TrainingState.TRAINING_STATE_CANCELLING);
    const events = await client.watchAll(training.id);
    expect(cases(events).at(-1)).toBe('state:TRAINING_STATE_CANCELLED');
    const requestedAt = cases(events).indexOf('state:TRAINING_STATE_CANCELLING');
    // An epoch is 3 batches here: at most the epoch in progress finished after the request.
    expect(
      events.slice(requestedAt).filter((m) => m.event?.$case === 'epochReport').length,
    ).toBeLessThanOrEqual(1);
    const cancelled = await get(training.id);
    expect(cancelled.state).toBe(TrainingState.TRAINING_STATE_CANCELLED);
    expect(cancelled.model).toBeUndefined();
    expect((await listModels(path.join(dir, 'models'))).map((m) => m.name)).not.toContain('never-published');
    const again = await client.cancelTraining({
      trainingId: training.id,
    });
    expect(again.training).toEqual(cancelled);
    const done = await failure(client.cancelTraining({ trainingId: trained.id }));
    expect(done.code).toBe(status.FAILED_PRECONDITION);
  });

  it('resumes a training interrupted by a shutdown and publishes it once', async () => {
    const training = await start(
      tinyRequest(datasetUri, { modelName: 'resumed', recipe: tinyRecipe({ epochs: 4 }) }),
    );
    await firstEpoch(training.id);
    client.close();
    await service.close();
    await startService();
    const events = await client.watchAll(training.id);
    expect(events.map((m) => m.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(cases(events).filter((c) => c.startsWith('epoch:'))).toEqual([
      'epoch:1',
      'epoch:2',
      'epoch:3',
      'epoch:4',
    ]);
    expect(cases(events).filter((c) => c.startsWith('state:'))).toEqual([
      'state:TRAINING_STATE_QUEUED',
      'state:TRAINING_STATE_RUNNING',
      'state:TRAINING_STATE_RUNNING',
      'state:TRAINING_STATE_SUCCEEDED',
    ]);
    const resumed = await get(training.id);
    expect(resumed.resumes).toBe(1);
    expect(resumed.model?.version).toBe(1);
    expect((await listModels(path.join(dir, 'models'))).find((m) => m.name === 'resumed')?.versions).toEqual([
      1,
    ]);
    expect(lines.some((l) => l.msg === 'recovering training jobs')).toBe(true);
  });

  it('lists trainings newest first and exports the training series', async () => {
    const all = await client.listTrainings({
      pageSize: 0,
      pageToken: '',
      state: 0,
    });
    expect(all.trainings.map((t) => t.modelName)).toEqual([
      'resumed',
      'never-published',
      'from-search',
      'tiny',
    ]);
    const succeeded = await client.listTrainings({
      pageSize: 1,
      pageToken: '',
      state: TrainingState.TRAINING_STATE_SUCCEEDED,
    });
    expect(succeeded.trainings.map((t) => t.modelName)).toEqual(['resumed']);
    expect(succeeded.nextPageToken).not.toBe('');
    const text = await (await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`)).text();
    expect(text).toMatch(/^rnas_training_epochs_total [1-9]/m);
    expect(text).toMatch(/^rnas_training_images_total [1-9]/m);
    expect(text).toMatch(/^rnas_training_jobs\{state="succeeded"\} 3$/m);
    expect(text).toContain('rnas_training_images_per_second');
    expect(text).toContain('rnas_tfjs_tensors');
  });

  it.each<[string, Partial<StartTrainingRequest>, string]>([
    [
      'an invalid genotype',
      {
        architecture: {
          $case: 'genotype',
          value: { ...TINY_GENOTYPE, normal: [{ op: 'conv_9x9', input: 0 }] },
        },
      },
      'genotype',
    ],
    [
      'a genotype reading a later state',
      { architecture: { $case: 'genotype', value: { ...TINY_GENOTYPE, normalConcat: [9] } } },
      'normalConcat',
    ],
    ['no architecture', { architecture: undefined }, 'architecture'],
    ['a genotype in the spec', { spec: { ...TINY_SPEC, genotype: TINY_GENOTYPE } }, 'spec.genotype'],
    ['absurd channels', { spec: { ...TINY_SPEC, channels: 100_000 } }, 'spec.channels=100000'],
    ['an absurdly large network', { spec: { ...TINY_SPEC, channels: 1024, layers: 200 } }, 'parameters'],
    ['an unknown variant', { spec: { ...TINY_SPEC, variant: 9 as NetworkVariant } }, 'spec.variant=9'],
    ['2 input channels', { spec: { ...TINY_SPEC, inputChannels: 2 } }, 'spec.input_channels=2'],
    ['a negative learning rate', { recipe: tinyRecipe({ learningRate: -1 }) }, 'recipe.learning_rate'],
    ['an absurd number of epochs', { recipe: tinyRecipe({ epochs: 1e9 }) }, 'recipe.epochs'],
    ['a batch of one', { recipe: tinyRecipe({ batchSize: 1 }) }, 'recipe.batch_size'],
    ['NaN weight decay', { recipe: tinyRecipe({ weightDecay: Number.NaN }) }, 'recipe.weight_decay'],
    ['lr_min above lr', { recipe: tinyRecipe({ learningRateMin: 1 }) }, 'recipe.learning_rate_min'],
    [
      'an unknown schedule',
      { recipe: tinyRecipe({ learningRateSchedule: 5 as LearningRateSchedule }) },
      'recipe.learning_rate_schedule=5',
    ],
    ['no model name', { modelName: '' }, 'model_name'],
    ['a model name with a slash', { modelName: '../evil' }, 'model_name'],
    ['a dataset outside the data roots', { datasetUri: 'cifar10:/etc' }, 'outside the data roots'],
    ['a dataset path escaping with ..', { datasetUri: 'cifar10:../..' }, 'outside the data roots'],
    ['no dataset', { datasetUri: '' }, 'dataset_uri'],
  ])('refuses %s with INVALID_ARGUMENT naming the field', async (_what, overrides, named) => {
    const before = await client.listTrainings({
      pageSize: 100,
      pageToken: '',
      state: 0,
    });
    const error = await failure(start(tinyRequest(datasetUri, overrides)));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(named);
    const after = await client.listTrainings({
      pageSize: 100,
      pageToken: '',
      state: 0,
    });
    expect(after.trainings).toHaveLength(before.trainings.length);
  });

  // Every parameter a dataset URI may carry is checked at StartTraining, for every scheme, not found
  // wrong by the job: the answer names the field, the URI as given and the parameter.
  it.each<[string, string]>([
    ['synthetic:shapes?classes=0', 'query parameter classes: expected an integer in [2, 1000], got "0"'],
    ['synthetic:shapes?classes=-1', 'query parameter classes'],
    ['synthetic:shapes?test=0.5', 'query parameter test'],
    ['synthetic:shapes?train=99999999999', 'query parameter train'],
    ['synthetic:shapes?channels=rgb', 'query parameter channels'],
    ['synthetic:shapes?size=16&size=16', 'query parameter "size" given twice'],
    ['synthetic:shapes?depth=3', 'unknown query parameter "depth"'],
    ['mnist:nothing-here?channels=1', 'unknown query parameter "channels"; mnist takes none'],
    ['cifar100:nothing-here?label=', 'query parameter label'],
    ['imagefolder:nothing-here?size=16x5000', 'query parameter size'],
    ['voc:nothing-here?test=a/b', 'query parameter test: expected an image-set name'],
    ['coco-keypoints:a.json?test=b.json&test_images=', 'query parameter test_images'],
  ])('refuses the dataset URI %s before creating a training', async (uri, named) => {
    const before = await client.listTrainings({ pageSize: 100, pageToken: '', state: 0 });
    const error = await failure(start(tinyRequest(datasetUri, { datasetUri: uri })));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(`dataset_uri=${JSON.stringify(uri)}`);
    expect(error.details).toContain(named);
    expect(error.details).not.toContain(dataRoot);
    const after = await client.listTrainings({ pageSize: 100, pageToken: '', state: 0 });
    expect(after.trainings).toHaveLength(before.trainings.length);
  });

  it('answers NOT_FOUND for unknown ids, RESOURCE_EXHAUSTED for an oversized message, and keeps serving', async () => {
    for (const trainingId of ['nope', 'y'.repeat(10_000)]) {
      expect((await failure(get(trainingId))).code).toBe(status.NOT_FOUND);
      expect((await failure(client.cancelTraining({ trainingId }))).code).toBe(status.NOT_FOUND);
      expect((await failure(client.watchAll(trainingId))).code).toBe(status.NOT_FOUND);
    }
    const huge = await failure(start(tinyRequest(datasetUri, { modelName: 'm'.repeat(100_000) })));
    expect(huge.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await get(trained.id)).state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    expect(lines.some((l) => l.level === 'error')).toBe(false);
  });
});

const MAIN = path.join(ROOT, 'services', 'training', 'dist', 'main.js');
const children: ChildProcess[] = [];

/** The service as its own process on `stateDir`, stopped by real signals. */
async function spawnService(stateDir: string, extra: string[] = []): Promise<ServiceProcess> {
  const started = await spawnServiceProcess(MAIN, [
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--state-dir',
    stateDir,
    '--model-repo',
    path.join(dir, 'process-models'),
    '--search-addr',
    searchService.address,
    '--data-root',
    dataRoot,
    '--shutdown-grace-ms',
    '500',
    ...extra,
  ]);
  children.push(started.child);
  return started;
}

describe('the training service process', () => {
  // Batches of this size take about a second each on 2 cores: a cancellation stays CANCELLING
  // until the batch in progress ends, and a SIGTERM lands before that.
  const slowDataset = 'synthetic:shapes?size=32&channels=3&train=4096&test=16';
  const slowRequest = (modelName: string): StartTrainingRequest =>
    tinyRequest(slowDataset, {
      modelName,
      spec: { ...TINY_SPEC, channels: 16, layers: 8 },
      recipe: tinyRecipe({ epochs: 50, batchSize: 64 }),
    });

  it('stops on SIGTERM in every job state: queued, running, cancelling', async () => {
    const stateDir = path.join(dir, 'sigterm-state');
    const first = await spawnService(stateDir, ['--max-running-trainings', '1']);
    let remote = trainingClient(first.port);
    const get = async (trainingId: string): Promise<Training> =>
      (await remote.getTraining({ trainingId })).training as Training;
    const a = (await remote.startTraining(slowRequest('slow-a'))).training as Training;
    const b = (await remote.startTraining(slowRequest('slow-b'))).training as Training;
    await pollUntil(async () => (await get(a.id)).state === TrainingState.TRAINING_STATE_RUNNING);
    expect((await get(b.id)).state).toBe(TrainingState.TRAINING_STATE_QUEUED);
    expect((await remote.cancelTraining({ trainingId: a.id })).training?.state).toBe(
      TrainingState.TRAINING_STATE_CANCELLING,
    );
    remote.close();
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });

    const second = await spawnService(stateDir, ['--max-running-trainings', '1']);
    remote = trainingClient(second.port);
    expect((await get(a.id)).state).toBe(TrainingState.TRAINING_STATE_CANCELLED);
    await pollUntil(async () => (await get(b.id)).state === TrainingState.TRAINING_STATE_RUNNING);
    remote.close();
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });

    const third = await spawnService(stateDir, ['--max-running-trainings', '1']);
    remote = trainingClient(third.port);
    await pollUntil(async () => (await get(b.id)).resumes === 1);
    expect((await get(b.id)).state).toBe(TrainingState.TRAINING_STATE_RUNNING);
    await remote.cancelTraining({ trainingId: b.id });
    remote.close();
    third.child.kill('SIGTERM');
    expect(await third.exited).toEqual({ code: 0, signal: null });
    expect((await listModels(path.join(dir, 'process-models'))).map((m) => m.name)).toEqual([]);
  });

  it('stops on SIGTERM while publishing, and publishes exactly once after the restart', async () => {
    const stateDir = path.join(dir, 'publish-state');
    const first = await spawnService(stateDir);
    let remote = trainingClient(first.port);
    const training = (await remote.startTraining(tinyRequest(datasetUri, { modelName: 'published-once' })))
      .training as Training;
    // The last epoch's report comes just before the worker publishes: SIGTERM then lands before,
    // during or after the publication; each must end with one published version.
    await firstMessage(
      remote.watchTraining({ trainingId: training.id, afterSequence: '0' }),
      (m) => m.event?.$case === 'epochReport' && m.event.value.epoch === 2,
    );
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    remote.close();

    const second = await spawnService(stateDir);
    remote = trainingClient(second.port);
    await pollUntil(
      async () =>
        ((await remote.getTraining({ trainingId: training.id })).training as Training).state ===
        TrainingState.TRAINING_STATE_SUCCEEDED,
    );
    const done = (await remote.getTraining({ trainingId: training.id })).training as Training;
    expect(done.model?.version).toBe(1);
    const models = await listModels(path.join(dir, 'process-models'));
    expect(models.find((m) => m.name === 'published-once')?.versions).toEqual([1]);
    remote.close();
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });
});
