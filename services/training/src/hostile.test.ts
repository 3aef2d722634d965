// The hostile-input corpus of the training service: one service, started once, and a table of
// requests no client should send (genotypes with unknown ops, out-of-range inputs and wrong
// lengths; specs, recipes and task configs out of range, NaN/Inf and extreme numbers; model names
// that are paths; dataset URIs that escape the data roots; uint64 edges; undecodable and oversized
// messages). Each row names the status code and what the message must say (the field); after
// each, the service still reports SERVING, logged no unexpected error and created no training.
import { cpSync, rmSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import {
  checkHealth,
  hostileFailure,
  NotFoundError,
  startFakeService,
  wire,
  type FakeService,
  type HostileCase,
} from '@rnas/grpc';
import { listModels } from '@rnas/model';
import {
  DetectionConfig,
  KeypointConfig,
  NetworkVariant,
  SegmentationConfig,
  SearchServiceService,
  Task,
  TrainingServiceService,
  TrainingState,
  type Genotype,
  type StartTrainingRequest,
} from '@rnas/proto';
import { loadTrainingServiceConfig } from './config';
import { startTrainingService, type RunningService } from './service';
import {
  buildService,
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

const MAX_MESSAGE_BYTES = 256 * 1024;

let dir: string;
let dataRoot: string;
let datasetUri: string;
let service: RunningService;
let client: TrainingClient;
let lines: Record<string, unknown>[];
let address: string;
let searches: FakeService;

beforeAll(async () => {
  buildService();
  ({ dir, dataRoot, datasetUri } = await tinyDataRoot());
  cpSync(path.join(dataRoot, 'shapes'), path.join(dir, 'outside'), { recursive: true });
  symlinkSync(path.join(dir, 'outside'), path.join(dataRoot, 'escape'));
  symlinkSync(path.join(dataRoot, 'loop'), path.join(dataRoot, 'loop'));
  // A search service that knows no search.
  searches = await startFakeService(SearchServiceService, {
    getSearch: ({ searchId }) => {
      throw new NotFoundError('search', searchId);
    },
  });
  const captured = memoryLogger();
  lines = captured.lines;
  const config = loadTrainingServiceConfig(
    [...serviceArgs(dir, dataRoot, searches.address), '--max-message-bytes', String(MAX_MESSAGE_BYTES)],
    {},
  );
  service = await startTrainingService(config, { logger: captured.logger, shutdownSignals: [] });
  client = trainingClient(service.port);
  address = `127.0.0.1:${service.port}`;
}, 300_000);

afterAll(async () => {
  client?.close();
  await service?.close();
  await searches?.server.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

type Case = HostileCase<typeof TrainingServiceService>;

/** StartTraining with a valid request changed by `overrides`. */
function start(
  name: string,
  overrides: () => Partial<StartTrainingRequest>,
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Case {
  return {
    name: `StartTraining: ${name}`,
    method: 'startTraining',
    request: () => tinyRequest(datasetUri, overrides()),
    code,
    message,
  };
}

/** StartTraining with the genotype changed by `change`. */
function genotype(name: string, change: (g: Genotype) => Genotype, message: RegExp): Case {
  return start(
    `genotype ${name}`,
    () => ({ architecture: { $case: 'genotype', value: change(structuredClone(TINY_GENOTYPE)) } }),
    message,
  );
}

const UINT32_MAX = 4294967295;
const UINT64_MAX = '18446744073709551615';
const LONG = 'x'.repeat(100_000);

const corpus: Case[] = [
  // Genotypes: unknown ops, inputs out of range, wrong lengths, concat out of range.
  genotype(
    'with an unknown op',
    (g) => ({ ...g, normal: [{ op: 'conv_9x9', input: 0 }, ...g.normal.slice(1)] }),
    /genotype.*conv_9x9/,
  ),
  genotype(
    'with an empty op',
    (g) => ({ ...g, reduce: [{ op: '', input: 0 }, ...g.reduce.slice(1)] }),
    /genotype.*reduce/,
  ),
  genotype(
    'with a NUL byte in an op',
    (g) => ({ ...g, normal: [{ op: 'skip_connect\0', input: 0 }, ...g.normal.slice(1)] }),
    /genotype.*skip_connect\\u0000/,
  ),
  genotype(
    'with a 100000-character op',
    (g) => ({ ...g, normal: [{ op: LONG, input: 0 }, ...g.normal.slice(1)] }),
    /genotype.*normal/,
  ),
  genotype(
    'with an input past the node',
    (g) => ({ ...g, normal: [g.normal[0], g.normal[1], g.normal[2], { op: 'skip_connect', input: 3 }] }),
    /genotype.*normal/,
  ),
  genotype(
    'with input 2^32-1',
    (g) => ({ ...g, reduce: [{ op: 'skip_connect', input: UINT32_MAX }, ...g.reduce.slice(1)] }),
    /genotype.*4294967295/,
  ),
  genotype(
    'with an odd number of edges',
    (g) => ({ ...g, normal: g.normal.slice(0, 3) }),
    /genotype.*normal/,
  ),
  genotype('with no edges', (g) => ({ ...g, normal: [], normalConcat: [] }), /genotype.*normal/),
  genotype(
    'with 2000 edges',
    (g) => ({ ...g, normal: new Array(2000).fill(g.normal[1]) }),
    /^invalid genotype\.normal="2000 edges": expected at most 64 edges/,
  ),
  genotype('with a concat past the nodes', (g) => ({ ...g, normalConcat: [2, 9] }), /genotype.*normalConcat/),
  genotype('with an empty concat', (g) => ({ ...g, reduceConcat: [] }), /genotype.*reduceConcat/),
  genotype('with a repeated concat', (g) => ({ ...g, normalConcat: [2, 2] }), /genotype.*normalConcat/),
  start('no architecture', () => ({ architecture: undefined }), /architecture/),
  start('an empty search id', () => ({ architecture: { $case: 'searchId', value: '' } }), /search_id/),
  start(
    'an unknown search id',
    () => ({ architecture: { $case: 'searchId', value: '../../etc/passwd' } }),
    /search "\.\.\/\.\.\/etc\/passwd" not found/,
    status.NOT_FOUND,
  ),
  start(
    'a search id with a NUL byte',
    () => ({ architecture: { $case: 'searchId', value: 'a\0b' } }),
    /search "a\\u0000b" not found/,
    status.NOT_FOUND,
  ),
  // The network spec.
  start(
    'a genotype in the spec',
    () => ({ spec: { ...TINY_SPEC, genotype: TINY_GENOTYPE } }),
    /spec\.genotype/,
  ),
  start(
    'an unknown variant',
    () => ({ spec: { ...TINY_SPEC, variant: 99 as NetworkVariant } }),
    /^invalid spec\.variant=99/,
  ),
  start(
    'a negative variant',
    () => ({ spec: { ...TINY_SPEC, variant: -1 as NetworkVariant } }),
    /^invalid spec\.variant=-1/,
  ),
  start(
    'channels 2^32-1',
    () => ({ spec: { ...TINY_SPEC, channels: UINT32_MAX } }),
    /^invalid spec\.channels=4294967295/,
  ),
  start(
    'layers 2^32-1',
    () => ({ spec: { ...TINY_SPEC, layers: UINT32_MAX } }),
    /^invalid spec\.layers=4294967295/,
  ),
  start(
    'classes 2^32-1',
    () => ({ spec: { ...TINY_SPEC, classes: UINT32_MAX } }),
    /^invalid spec\.classes=4294967295/,
  ),
  start(
    '4 input channels',
    () => ({ spec: { ...TINY_SPEC, inputChannels: 4 } }),
    /^invalid spec\.input_channels=4/,
  ),
  start(
    'input size 2^32-1',
    () => ({ spec: { ...TINY_SPEC, inputSize: UINT32_MAX } }),
    /^invalid spec\.input_size=4294967295/,
  ),
  // The recipe: ranges, NaN, infinities, extremes.
  start('epochs 0', () => ({ recipe: tinyRecipe({ epochs: 0 }) }), /^invalid recipe\.epochs=0/),
  start(
    'epochs 2^32-1',
    () => ({ recipe: tinyRecipe({ epochs: UINT32_MAX }) }),
    /^invalid recipe\.epochs=4294967295/,
  ),
  start(
    'batch size 2^32-1',
    () => ({ recipe: tinyRecipe({ batchSize: UINT32_MAX }) }),
    /^invalid recipe\.batch_size=4294967295/,
  ),
  start(
    'a NaN learning rate',
    () => ({ recipe: tinyRecipe({ learningRate: Number.NaN }) }),
    /^invalid recipe\.learning_rate=NaN/,
  ),
  start(
    'an infinite learning rate',
    () => ({ recipe: tinyRecipe({ learningRate: Number.POSITIVE_INFINITY }) }),
    /^invalid recipe\.learning_rate=Infinity/,
  ),
  start(
    'a learning rate of 3e38',
    () => ({ recipe: tinyRecipe({ learningRate: 3e38 }) }),
    /^invalid recipe\.learning_rate=3e\+38/,
  ),
  start(
    'a -Infinity learning_rate_min',
    () => ({ recipe: tinyRecipe({ learningRateMin: Number.NEGATIVE_INFINITY }) }),
    /^invalid recipe\.learning_rate_min=-Infinity/,
  ),
  start(
    'a NaN momentum',
    () => ({ recipe: tinyRecipe({ momentum: Number.NaN }) }),
    /^invalid recipe\.momentum=NaN/,
  ),
  start(
    'a negative weight decay',
    () => ({ recipe: tinyRecipe({ weightDecay: -1e-300 }) }),
    /^invalid recipe\.weight_decay=-1e-300/,
  ),
  start(
    'an infinite auxiliary weight',
    () => ({ recipe: tinyRecipe({ auxiliaryWeight: Number.POSITIVE_INFINITY }) }),
    /^invalid recipe\.auxiliary_weight=Infinity/,
  ),
  start(
    'cutout 2^32-1',
    () => ({ recipe: tinyRecipe({ cutout: UINT32_MAX }) }),
    /^invalid recipe\.cutout=4294967295/,
  ),
  start('a drop path of 1', () => ({ recipe: tinyRecipe({ dropPath: 1 }) }), /^invalid recipe\.drop_path=1/),
  start(
    'a NaN grad clip',
    () => ({ recipe: tinyRecipe({ gradClip: Number.NaN }) }),
    /^invalid recipe\.grad_clip=NaN/,
  ),
  start(
    'a label smoothing of 1.5',
    () => ({ recipe: tinyRecipe({ labelSmoothing: 1.5 }) }),
    /^invalid recipe\.label_smoothing=1\.5/,
  ),
  start(
    'crop padding 2^32-1',
    () => ({ recipe: tinyRecipe({ cropPadding: UINT32_MAX }) }),
    /^invalid recipe\.crop_padding=4294967295/,
  ),
  start(
    'train images 2^32-1',
    () => ({ recipe: tinyRecipe({ trainImages: UINT32_MAX }) }),
    /^invalid recipe\.train_images=4294967295/,
  ),
  // Tasks and their head configurations.
  start('an unknown task', () => ({ task: 99 as Task }), /^invalid task=99/),
  start('detection on an image folder', () => ({ task: Task.TASK_DETECTION }), /dataset_uri/),
  start(
    'a detection input size of 33',
    () => ({
      task: Task.TASK_DETECTION,
      datasetUri: 'synthetic:shapes',
      detection: DetectionConfig.fromPartial({ inputSize: 33 }),
    }),
    /detection\.input_size=33/,
  ),
  start(
    'a NaN match IoU',
    () => ({
      task: Task.TASK_DETECTION,
      datasetUri: 'synthetic:shapes',
      detection: DetectionConfig.fromPartial({ matchIou: Number.NaN }),
    }),
    /detection\.match_iou=NaN/,
  ),
  start(
    'a detection config on a classifier',
    () => ({ detection: DetectionConfig.fromPartial({ inputSize: 64 }) }),
    /detection/,
  ),
  start(
    'a backbone model that is a path',
    () => ({
      task: Task.TASK_DETECTION,
      datasetUri: 'synthetic:shapes',
      detection: DetectionConfig.fromPartial({ backboneModel: '../../etc' }),
    }),
    /detection\.backbone_model="\.\.\/\.\.\/etc"/,
  ),
  start(
    'infinite segmentation scales',
    () => ({
      task: Task.TASK_SEGMENTATION,
      datasetUri: 'synthetic:shapes',
      segmentation: SegmentationConfig.fromPartial({ scales: [Number.POSITIVE_INFINITY] }),
    }),
    /^invalid segmentation\.scales\[0\]=Infinity: expected a number in \[0\.25, 4\]/,
  ),
  start(
    'a NaN heatmap sigma',
    () => ({
      task: Task.TASK_KEYPOINTS,
      datasetUri: 'synthetic:shapes',
      keypoints: KeypointConfig.fromPartial({ heatmapSigma: Number.NaN }),
    }),
    /keypoints\.heatmap_sigma=NaN/,
  ),
  // Model names that are paths, or no names.
  start(
    'no model name',
    () => ({ modelName: '' }),
    /^invalid model_name: expected 1 to 64 characters.*, got ""$/,
  ),
  start(
    'a model name of ..',
    () => ({ modelName: '..' }),
    /^invalid model_name: expected 1 to 64 characters.*, got "\.\."$/,
  ),
  start(
    'a model name with a slash',
    () => ({ modelName: 'a/../../b' }),
    /^invalid model_name: expected 1 to 64 characters.*, got "a\/\.\.\/\.\.\/b"$/,
  ),
  start(
    'an absolute model name',
    () => ({ modelName: '/etc/passwd' }),
    /^invalid model_name: expected 1 to 64 characters.*, got "\/etc\/passwd"$/,
  ),
  start(
    'a model name with a NUL byte',
    () => ({ modelName: 'tiny\0' }),
    /^invalid model_name: expected 1 to 64 characters.*, got "tiny\\u0000"$/,
  ),
  start(
    'a 65-character model name',
    () => ({ modelName: 'm'.repeat(65) }),
    /^invalid model_name: expected 1 to 64 characters.*, got "m{65}"$/,
  ),
  start(
    'a model name with a URI scheme',
    () => ({ modelName: 'file://tiny' }),
    /^invalid model_name: expected 1 to 64 characters.*, got "file:\/\/tiny"$/,
  ),
  // Dataset URIs.
  start('an empty dataset URI', () => ({ datasetUri: '' }), /^invalid dataset_uri=""/),
  start(
    'a dataset escaping with ..',
    () => ({ datasetUri: 'imagefolder:../../../etc' }),
    /^invalid dataset_uri="imagefolder:\.\.\/\.\.\/\.\.\/etc".*outside the data roots/,
  ),
  start(
    'an absolute dataset path outside the roots',
    () => ({ datasetUri: 'cifar10:/etc' }),
    /^invalid dataset_uri="cifar10:\/etc".*outside the data roots/,
  ),
  start(
    'a dataset through a symlink out of the root',
    () => ({ datasetUri: 'imagefolder:escape?size=8&channels=1' }),
    /^invalid dataset_uri="imagefolder:escape\?size=8&channels=1".*outside the data roots/,
  ),
  start(
    'a dataset that is a symlink loop',
    () => ({ datasetUri: 'imagefolder:loop' }),
    /^invalid dataset_uri="imagefolder:loop"/,
  ),
  start(
    'a file:// dataset',
    () => ({ datasetUri: 'file:///etc/passwd' }),
    /^invalid dataset_uri="file:\/\/\/etc\/passwd"/,
  ),
  start(
    'an http:// dataset',
    () => ({ datasetUri: 'http://169.254.169.254/latest' }),
    /^invalid dataset_uri="http:\/\/169\.254\.169\.254\/latest"/,
  ),
  start(
    'a dataset with a NUL byte',
    () => ({ datasetUri: 'imagefolder:shapes\0' }),
    /^invalid dataset_uri="imagefolder:shapes\\u0000"/,
  ),
  start(
    'a 100000-character dataset URI',
    () => ({ datasetUri: `imagefolder:${LONG}` }),
    /^invalid dataset_uri="imagefolder:x+"…\(100012 chars\)/,
  ),
  // Ids, pages, sequences.
  {
    name: 'GetTraining: an empty id',
    method: 'getTraining',
    request: () => ({ trainingId: '' }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid training_id="": /,
  },
  {
    name: 'GetTraining: a path as id',
    method: 'getTraining',
    request: () => ({ trainingId: '../state/jobs.db' }),
    code: status.NOT_FOUND,
    message: /^training "\.\.\/state\/jobs\.db" not found$/,
  },
  {
    name: 'GetTraining: a 100000-character id',
    method: 'getTraining',
    request: () => ({ trainingId: LONG }),
    code: status.NOT_FOUND,
    message: /^training "x+"…\(100000 chars\) not found$/,
  },
  {
    name: 'CancelTraining: an empty id',
    method: 'cancelTraining',
    request: () => ({ trainingId: '' }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid training_id="": /,
  },
  {
    name: 'CancelTraining: a NUL byte in the id',
    method: 'cancelTraining',
    request: () => ({ trainingId: '\0' }),
    code: status.NOT_FOUND,
    message: /^training "\\u0000" not found$/,
  },
  {
    name: 'ListTrainings: page_size 2^32-1',
    method: 'listTrainings',
    request: () => ({ pageSize: UINT32_MAX, pageToken: '', state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_size=4294967295: /,
  },
  {
    name: 'ListTrainings: a garbage page token',
    method: 'listTrainings',
    request: () => ({ pageSize: 1, pageToken: '%%%', state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_token="%%%": /,
  },
  {
    name: 'ListTrainings: an unknown state',
    method: 'listTrainings',
    request: () => ({ pageSize: 1, pageToken: '', state: 1000 as TrainingState }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid state=1000: /,
  },
  {
    name: 'WatchTraining: an empty id',
    method: 'watchTraining',
    request: () => ({ trainingId: '', afterSequence: '0' }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid training_id="": /,
  },
  {
    name: 'WatchTraining: an unknown id after 2^53+1',
    method: 'watchTraining',
    request: () => ({ trainingId: 'ghost', afterSequence: '9007199254740993' }),
    code: status.NOT_FOUND,
    message: /^training "ghost" not found$/,
  },
  {
    name: 'WatchTraining: an unknown id after 2^64-1',
    method: 'watchTraining',
    request: () => ({ trainingId: 'ghost', afterSequence: UINT64_MAX }),
    code: status.NOT_FOUND,
    message: /^training "ghost" not found$/,
  },
  // EvaluatePair (a search service's remote evaluator).
  {
    name: 'EvaluatePair: no setup',
    method: 'evaluatePair',
    request: () => ({ candidates: [], searchId: '', generation: 0, pair: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid setup=undefined: required$/,
  },
  // Bytes no generated client sends.
  {
    name: 'StartTraining: bytes that are no protobuf',
    method: 'startTraining',
    raw: () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<12 bytes>: not a valid .*StartTraining request/,
  },
  {
    name: 'StartTraining: a genotype longer than the message',
    method: 'startTraining',
    raw: () => Buffer.concat([wire.varint((1 << 3) | 2), wire.varint(50), wire.bytes(1, 'sep')]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<\d+ bytes>: not a valid .*StartTraining request/,
  },
  {
    name: 'StartTraining: an edge input of 2^64-1 on the wire',
    method: 'startTraining',
    raw: () =>
      Buffer.concat([
        wire.bytes(
          1,
          wire.bytes(1, Buffer.concat([wire.bytes(1, 'skip_connect'), wire.uint(2, 2n ** 64n - 1n)])),
        ),
        wire.bytes(4, datasetUri),
        wire.bytes(6, 'wire'),
      ]),
    code: status.INVALID_ARGUMENT,
    message: /genotype/,
  },
  {
    name: 'StartTraining: epochs of 2^64-1 on the wire',
    method: 'startTraining',
    raw: () =>
      Buffer.concat([
        wire.bytes(1, Buffer.alloc(0)),
        wire.bytes(4, 'synthetic:shapes'),
        wire.bytes(5, wire.uint(1, 2n ** 64n - 1n)),
        wire.bytes(6, 'wire'),
      ]),
    code: status.INVALID_ARGUMENT,
    message: /epochs=4294967295|genotype/,
  },
  {
    name: 'StartTraining: an oversized message',
    method: 'startTraining',
    raw: () => wire.bytes(6, 'm'.repeat(MAX_MESSAGE_BYTES + 1)),
    code: status.RESOURCE_EXHAUSTED,
    message: /^Received message larger than max \(\d+ vs 262144\)$/,
  },
  {
    name: 'ListTrainings: page_size of 2^64-1 on the wire',
    method: 'listTrainings',
    raw: () => wire.uint(1, 2n ** 64n - 1n),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_size=4294967295: /,
  },
  {
    name: 'WatchTraining: wire type 6',
    method: 'watchTraining',
    raw: () => Buffer.from([(1 << 3) | 6]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<1 bytes>: not a valid .*WatchTraining request/,
  },
  {
    name: 'EvaluatePair: an oversized message',
    method: 'evaluatePair',
    raw: () => wire.bytes(3, 's'.repeat(MAX_MESSAGE_BYTES + 1)),
    code: status.RESOURCE_EXHAUSTED,
    message: /^Received message larger than max/,
  },
];

describe('the training service under hostile input', () => {
  it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, row) => {
    const before = (await client.listTrainings({ pageSize: 1000, pageToken: '', state: 0 })).trainings.length;
    const logged = lines.length;
    const error = await hostileFailure(TrainingServiceService, address, row);
    expect({ code: status[error.code], details: error.details }).toEqual({
      code: status[row.code],
      details: expect.stringMatching(row.message),
    });
    expect(error.details).not.toContain(path.join(dir, 'state'));
    expect(error.details).not.toContain(path.join(dir, 'models'));
    expect(await checkHealth(address, 'relativenas.v1.TrainingService')).toBe('SERVING');
    expect(await checkHealth(address, '')).toBe('SERVING');
    const after = (await client.listTrainings({ pageSize: 1000, pageToken: '', state: 0 })).trainings.length;
    expect(after).toBe(before);
    expect(lines.slice(logged).filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });

  it('published nothing, and still trains after the whole corpus', async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(40);
    expect(await listModels(path.join(dir, 'models'))).toEqual([]);
    const started = await client.startTraining(
      tinyRequest(datasetUri, { recipe: tinyRecipe({ epochs: 1 }) }),
    );
    await client.watchAll(started.training?.id ?? '');
    const done = await client.getTraining({ trainingId: started.training?.id ?? '' });
    expect(TrainingState[done.training?.state ?? 0]).toBe('TRAINING_STATE_SUCCEEDED');
  });
});
