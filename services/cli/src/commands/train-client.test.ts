// `rnas train start|watch|get` against a fake training service (canned answers, the requests
// recorded).
import { Task } from '@rnas/proto';
import { InvalidArgumentError, startFakeService, type FakeService } from '@rnas/grpc';
import {
  LearningRateSchedule,
  TrainingServiceService,
  TrainingState,
  type EpochReport,
  type StartTrainingRequest,
  type Training,
  type WatchTrainingResponse,
} from '@rnas/proto';
import { rnas } from '../test-util';
import { formatTraining } from './train-client';

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
    owner: 'anonymous',
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

describe('rnas train start --task segmentation|keypoints', () => {
  const start = (...args: string[]): ReturnType<typeof rnas> =>
    rnas([
      'train',
      'start',
      '--genotype',
      'DARTS_V2',
      '--dataset',
      'voc-seg:/data/shapes',
      '--model',
      'dense',
      '--addr',
      address,
      ...args,
    ]);

  it('maps the segmentation flags to StartTrainingRequest.segmentation, with the poly schedule', async () => {
    const r = await start(
      '--task',
      'segmentation',
      '--input-size',
      '96x128',
      '--scales',
      '0.5, 1,1.5',
      '--head-lr-scale',
      '10',
      '--aux-weight',
      '0.5',
      '--backbone-model',
      'cls:2',
      '--schedule',
      'poly',
    );
    expect(r).toMatchObject({ code: 0, out: 't-1\n' });
    const request = started.at(-1) as StartTrainingRequest;
    expect(request.task).toBe(Task.TASK_SEGMENTATION);
    expect(request.segmentation).toEqual({
      inputHeight: 96,
      inputWidth: 128,
      scales: [0.5, 1, 1.5],
      backboneModel: 'cls:2',
      headLrScale: 10,
      auxiliaryWeight: 0.5,
    });
    expect([request.detection, request.keypoints]).toEqual([undefined, undefined]);
    expect(request.recipe?.learningRateSchedule).toBe(LearningRateSchedule.LEARNING_RATE_SCHEDULE_POLY);
  });

  it('takes one side for a square segmentation input and leaves absent flags to the service', async () => {
    expect((await start('--task', 'segmentation', '--input-size', '64')).code).toBe(0);
    expect(started.at(-1)?.segmentation).toEqual({
      inputHeight: 64,
      inputWidth: 64,
      scales: [],
      backboneModel: '',
      headLrScale: undefined,
      auxiliaryWeight: undefined,
    });
  });

  it('maps the keypoint flags to StartTrainingRequest.keypoints; flip testing stays the default unless turned off', async () => {
    const r = await start(
      '--task',
      'keypoints',
      '--input-size',
      '64x48',
      '--heatmap-sigma',
      '1.5',
      '--no-flip-test',
      '--scale-factor',
      '0.25',
      '--rotation-factor',
      '30',
      '--backbone-model',
      'cls',
    );
    expect(r.code).toBe(0);
    const request = started.at(-1) as StartTrainingRequest;
    expect(request.task).toBe(Task.TASK_KEYPOINTS);
    expect(request.keypoints).toEqual({
      inputHeight: 64,
      inputWidth: 48,
      heatmapSigma: 1.5,
      flipTest: false,
      scaleFactor: 0.25,
      rotationFactor: 30,
      backboneModel: 'cls',
      keypointNames: [],
      skeleton: [],
      flipPairs: [],
      oksSigmas: [],
    });
    expect([request.detection, request.segmentation]).toEqual([undefined, undefined]);
    await start('--task', 'keypoints');
    expect(started.at(-1)?.keypoints).toMatchObject({ inputHeight: undefined, flipTest: undefined });
  });

  it('still takes a square detection input', async () => {
    expect((await start('--task', 'detection', '--input-size', '320')).code).toBe(0);
    expect(started.at(-1)?.detection?.inputSize).toBe(320);
    expect((await start('--task', 'detection', '--input-size', '128x128')).code).toBe(0);
    expect(started.at(-1)?.detection?.inputSize).toBe(128);
  });

  it.each([
    [
      ['--task', 'pose'],
      "option '--task <name>' argument 'pose' is invalid. Allowed choices are classification, detection, segmentation, keypoints.",
    ],
    [
      ['--task', 'segmentation', '--input-size', '96x'],
      'expected N or HxW (positive integers, height first), got "96x"',
    ],
    [
      ['--task', 'segmentation', '--input-size', '0x64'],
      'expected N or HxW (positive integers, height first), got "0x64"',
    ],
    [
      ['--task', 'keypoints', '--input-size', '64*48'],
      'expected N or HxW (positive integers, height first), got "64*48"',
    ],
    [
      ['--task', 'keypoints', '--input-size', '-64'],
      'expected N or HxW (positive integers, height first), got "-64"',
    ],
    [
      ['--task', 'keypoints', '--input-size', '9'.repeat(40)],
      'expected N or HxW (positive integers, height first)',
    ],
    [
      ['--task', 'segmentation', '--scales', '0.5,,2'],
      'expected up to 32 positive numbers separated by commas, got "0.5,,2"',
    ],
    [
      ['--task', 'segmentation', '--scales', '1,-2'],
      'expected up to 32 positive numbers separated by commas, got "1,-2"',
    ],
    [
      ['--task', 'segmentation', '--scales', 'big'],
      'expected up to 32 positive numbers separated by commas, got "big"',
    ],
    [['--task', 'segmentation', '--head-lr-scale', 'ten'], 'expected a number, got "ten"'],
    [['--task', 'keypoints', '--heatmap-sigma', ''], 'expected a number, got ""'],
    [['--schedule', 'step'], 'Allowed choices are cosine, constant, poly.'],
    [
      ['--task', 'detection', '--input-size', '320x256'],
      'rnas: --input-size 320x256: detection takes one side N (a square input)\n',
    ],
    [['--scales', '1,2'], 'rnas: --scales is a segmentation flag: add --task segmentation\n'],
    [
      ['--task', 'keypoints', '--scales', '1,2'],
      'rnas: --scales is a segmentation flag, not keypoints: use --task segmentation\n',
    ],
    [
      ['--task', 'segmentation', '--no-flip-test'],
      'rnas: --no-flip-test is a keypoints flag, not segmentation: use --task keypoints\n',
    ],
    [
      ['--task', 'segmentation', '--match-iou', '0.5'],
      'rnas: --match-iou is a detection flag, not segmentation: use --task detection\n',
    ],
    [['--heatmap-sigma', '2'], 'rnas: --heatmap-sigma is a keypoints flag: add --task keypoints\n'],
    [
      ['--input-size', '64'],
      'rnas: --input-size is a flag of detection, segmentation and keypoints: add --task detection|segmentation|keypoints\n',
    ],
    [
      ['--task', 'classification', '--backbone-model', 'x'],
      'rnas: --backbone-model is a flag of detection, segmentation and keypoints, not classification: use --task detection|segmentation|keypoints\n',
    ],
  ])('refuses %j with a message naming the flag', async (args, message) => {
    const before = started.length;
    const r = await start(...args);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(message);
    expect(started).toHaveLength(before);
  });

  it('shows the segmentation mIoU and the keypoint AP of each epoch', () => {
    const dense = (metrics: { [name: string]: number }): Training =>
      training(TrainingState.TRAINING_STATE_RUNNING, {
        lastEpoch: { ...epoch(1), evalMetrics: metrics },
      });
    expect(formatTraining(dense({ mIoU: 0.6512, pixel_accuracy: 0.9 }))).toContain('test mIoU 0.651,');
    expect(formatTraining(dense({ AP: 0.55, AP50: 0.8, AP75: 0.5, PCK: 0.9 }))).toContain('test AP 0.550,');
    expect(formatTraining(dense({ AP50: 0.7, AP: 0.4 }))).toContain('test AP50 0.700,');
  });

  it('documents the new flags in the help', async () => {
    const help = (await rnas(['train', 'start', '--help'])).out;
    for (const flag of [
      '--input-size <N|HxW>',
      '--scales <a,b,...>',
      '--head-lr-scale <x>',
      '--aux-weight <x>',
      '--heatmap-sigma <x>',
      '--no-flip-test',
      '--scale-factor <x>',
      '--rotation-factor <x>',
    ])
      expect(help).toContain(flag);
    expect(help).toContain('poly');
  });
});
