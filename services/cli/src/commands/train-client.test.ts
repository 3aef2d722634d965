// `rnas train start|watch|get` against a fake training service (canned answers, the requests
// recorded).
import { Task } from '@rnas/proto';
import { InvalidArgumentError, startFakeService, type FakeService } from '@rnas/grpc';
import {
  TrainingServiceService,
  TrainingState,
  type EpochReport,
  type StartTrainingRequest,
  type Training,
  type WatchTrainingResponse,
} from '@rnas/proto';
import { rnas } from '../test-util';

function training(state: TrainingState, overrides: Partial<Training> = {}): Training {
  return {
    id: 't-1',
    state,
    searchId: '',
    spec: undefined,
    datasetUri: 'synthetic:shapes',
    recipe: undefined,
    modelName: 'tiny',
    createdUnixMs: 1,
    startedUnixMs: 0,
    finishedUnixMs: 0,
    progress: { epochsDone: 0, epochs: 2, imagesPerSecond: 0, etaMs: 0 },
    lastEpoch: undefined,
    model: undefined,
    error: '',
    resumes: 0,
    task: Task.TASK_CLASSIFICATION,
    detection: undefined,
    ...overrides,
  };
}

const epoch = (n: number): EpochReport => ({
  epoch: n,
  epochs: 2,
  learningRate: 0.025,
  dropPath: 0,
  trainLoss: 1.5 / n,
  trainAccuracy: 0.4,
  evalLoss: 1.25,
  evalAccuracy: 0.5,
  imagesPerSecond: 100,
  durationMs: 1000,
  etaMs: 1000 * (2 - n),
  evalMetrics: { accuracy: 0.5 },
});

const MODEL = { name: 'tiny', version: 3, path: '/models/tiny/3' };

const HISTORY: WatchTrainingResponse['event'][] = [
  {
    $case: 'stateChange',
    value: { state: TrainingState.TRAINING_STATE_QUEUED, reason: 'accepted', training: training(1) },
  },
  {
    $case: 'stateChange',
    value: { state: TrainingState.TRAINING_STATE_RUNNING, reason: 'started', training: training(2) },
  },
  { $case: 'epochReport', value: epoch(1) },
  { $case: 'epochReport', value: epoch(2) },
  {
    $case: 'stateChange',
    value: {
      state: TrainingState.TRAINING_STATE_SUCCEEDED,
      reason: 'published',
      training: training(4, { model: MODEL }),
    },
  },
];

let fake: FakeService;
let address: string;
const started: StartTrainingRequest[] = [];

beforeAll(async () => {
  fake = await startFakeService(TrainingServiceService, {
    startTraining: (request) => {
      if (request.modelName === 'BAD')
        throw new InvalidArgumentError('model_name', request.modelName, 'lower case only');
      started.push(request);
      return { training: training(TrainingState.TRAINING_STATE_QUEUED) };
    },
    getTraining: () => ({
      training: training(TrainingState.TRAINING_STATE_SUCCEEDED, { model: MODEL, lastEpoch: epoch(2) }),
    }),
    listTrainings: () => ({ trainings: [], nextPageToken: '' }),
    cancelTraining: () => ({ training: training(TrainingState.TRAINING_STATE_CANCELLED) }),
    watchTraining: async function* () {
      for (const [i, event] of HISTORY.entries())
        yield { sequence: i + 1, timeUnixMs: 0, replayed: false, event };
    },
  });
  address = fake.address;
});

afterAll(() => fake.server.shutdown());

describe('rnas train (client)', () => {
  it('starts a training of a published genotype or a search result, with the flags given', async () => {
    const r = await rnas(
      [
        'train',
        'start',
        '--genotype',
        'DARTS_V2',
        '--dataset',
        'synthetic:shapes',
        '--model',
        'tiny',
        '--epochs',
        '2',
        '--schedule',
        'constant',
        '--channels',
        '4',
      ],
      { env: { RNAS_TRAINING_ADDR: address } },
    );
    expect(r).toMatchObject({ code: 0, out: 't-1\n' });
    const request = started.at(-1);
    expect(request?.architecture?.$case).toBe('genotype');
    expect(request?.spec).toMatchObject({ channels: 4, layers: 0, classes: 0 });
    expect(request?.recipe).toMatchObject({ epochs: 2, learningRateSchedule: 2 });
    expect(request?.recipe?.batchSize).toBeUndefined();

    await rnas([
      'train',
      'start',
      '--search',
      's-9',
      '--dataset',
      'synthetic:shapes',
      '--model',
      'm',
      '--addr',
      address,
    ]);
    expect(started.at(-1)?.architecture).toEqual({ $case: 'searchId', value: 's-9' });
  });

  it('refuses both or neither of --genotype and --search, and an unknown genotype name', async () => {
    for (const args of [[], ['--genotype', 'DARTS_V2', '--search', 's']]) {
      const r = await rnas(['train', 'start', '--dataset', 'x', '--model', 'm', '--addr', address, ...args]);
      expect(r.code).toBe(1);
      expect(r.err).toBe('rnas: give exactly one of --genotype NAME|FILE and --search ID\n');
    }
    const unknown = await rnas([
      'train',
      'start',
      '--genotype',
      'NOPE',
      '--dataset',
      'x',
      '--model',
      'm',
      '--addr',
      address,
    ]);
    expect(unknown.err).toContain('"NOPE" is neither a published genotype');
    const refused = await rnas([
      'train',
      'start',
      '--genotype',
      'DARTS_V2',
      '--dataset',
      'x',
      '--model',
      'BAD',
      '--addr',
      address,
    ]);
    expect(refused.err).toContain('INVALID_ARGUMENT: invalid model_name="BAD"');
  });

  it('watches a training epoch by epoch and prints the published model', async () => {
    const r = await rnas(['train', 'watch', 't-1', '--addr', address]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      'epoch 1/2: train loss 1.5000, accuracy 40.0%; test loss 1.2500, accuracy 50.0%; lr 0.0250, 100 img/s, ETA 0m01s',
    );
    expect(r.err).toContain('SUCCEEDED: published');
    expect(r.out).toBe('model=tiny version=3\n');
    const bar = await rnas(['train', 'watch', 't-1', '--addr', address], { tty: true });
    expect(bar.err).toMatch(/epoch 2\/2 \[[^\]]*\] loss 0\.7500 \| accuracy 50\.0%/);
  });

  it('shows a training', async () => {
    const r = await rnas(['train', 'get', 't-1', '--addr', address]);
    expect(r.out).toContain('training t-1: SUCCEEDED');
    expect(r.out).toContain('published: tiny version 3 (/models/tiny/3)');
    const json = await rnas(['train', 'get', 't-1', '--addr', address, '--json']);
    expect((JSON.parse(json.out) as { model: unknown }).model).toEqual(MODEL);
  });
});
