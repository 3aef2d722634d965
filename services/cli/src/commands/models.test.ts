import { Task } from '@rnas/proto';
import { NotFoundError, startFakeService, type FakeService } from '@rnas/grpc';
import { InferenceServiceService, ModelVersionState, type ListModelsResponse } from '@rnas/proto';
import type { CliIo } from '../io';
import { formatModels, runModelsCommand } from './models';
import { serviceAddress } from './service-client';

const LISTING: ListModelsResponse = {
  models: [
    {
      name: 'fashion',
      servingVersion: 2,
      versions: [
        {
          version: 1,
          state: ModelVersionState.MODEL_VERSION_STATE_READY,
          error: '',
          labels: [],
          inputShape: { height: 28, width: 28, channels: 1 },
          spec: undefined,
          preprocessing: undefined,
          parameterCount: 12345,
          publishedUnixMs: 1,
          loadedUnixMs: 2,
          trainingId: '',
          task: Task.TASK_CLASSIFICATION,
          detection: undefined,
        },
        {
          version: 2,
          state: ModelVersionState.MODEL_VERSION_STATE_READY,
          error: '',
          labels: [],
          inputShape: { height: 28, width: 28, channels: 1 },
          spec: undefined,
          preprocessing: undefined,
          parameterCount: 23456,
          publishedUnixMs: 3,
          loadedUnixMs: 4,
          trainingId: 't-1',
          task: Task.TASK_CLASSIFICATION,
          detection: undefined,
        },
        {
          version: 3,
          state: ModelVersionState.MODEL_VERSION_STATE_FAILED,
          error: 'weights.safetensors: missing',
          labels: [],
          inputShape: undefined,
          spec: undefined,
          preprocessing: undefined,
          parameterCount: 0,
          publishedUnixMs: 5,
          loadedUnixMs: 0,
          trainingId: '',
          task: Task.TASK_CLASSIFICATION,
          detection: undefined,
        },
      ],
    },
  ],
};

function capture(env: NodeJS.ProcessEnv = {}): CliIo & { out: string[] } {
  const out: string[] = [];
  return { out, stdout: { write: (t: string) => out.push(t) }, stderr: { write: () => true }, env };
}

describe('rnas models', () => {
  let fake: FakeService;
  let address: string;

  beforeAll(async () => {
    fake = await startFakeService(InferenceServiceService, {
      classify: () => {
        throw new NotFoundError('model', 'x');
      },
      listModels: () => LISTING,
      getModel: () => ({ model: LISTING.models[0] }),
    });
    address = fake.address;
  });

  afterAll(() => fake.server.shutdown());

  it('prints one line per version, the serving one starred, failures with their error', async () => {
    const io = capture({ RNAS_INFERENCE_ADDR: address });
    expect(await runModelsCommand({}, io)).toBe(0);
    const lines = io.out.join('').split('\n');
    expect(lines[0]).toMatch(/^MODEL\s+VERSION\s+STATE\s+INPUT\s+CLASSES\s+PARAMS\s+ERROR$/);
    expect(lines[1]).toMatch(/^fashion\s+1\s+READY\s+28x28x1\s+-\s+12345$/);
    expect(lines[2]).toMatch(/^fashion\s+2\*\s+READY\s+28x28x1\s+-\s+23456$/);
    expect(lines[3]).toMatch(/^fashion\s+3\s+FAILED\s+-\s+-\s+-\s+weights\.safetensors: missing$/);
  });

  it('prints the response as JSON with --json', async () => {
    const io = capture();
    expect(await runModelsCommand({ addr: address, json: true }, io)).toBe(0);
    const parsed = JSON.parse(io.out.join('')) as {
      models: { name: string; versions: { state: string }[] }[];
    };
    expect(parsed.models[0].name).toBe('fashion');
    expect(parsed.models[0].versions[2].state).toBe('MODEL_VERSION_STATE_FAILED');
  });

  it('says where it looked and what to do when no service answers', async () => {
    await expect(runModelsCommand({ addr: '127.0.0.1:1', timeoutMs: 3000 }, capture())).rejects.toThrow(
      /^cannot list models at 127\.0\.0\.1:1: (UNAVAILABLE|DEADLINE_EXCEEDED): .*is `rnas serve inference` running there\? set --addr or RNAS_INFERENCE_ADDR\)$/,
    );
  });

  it('says so when the repository is empty', () => {
    expect(formatModels({ models: [] })).toBe('no models in the repository\n');
  });

  it('takes the address from the flag, then the environment, then the default', () => {
    expect(serviceAddress('inference', 'h:1', { RNAS_INFERENCE_ADDR: 'e:2' })).toBe('h:1');
    expect(serviceAddress('inference', undefined, { RNAS_INFERENCE_ADDR: 'e:2' })).toBe('e:2');
    expect(serviceAddress('inference', undefined, {})).toBe('localhost:50053');
    expect(serviceAddress('search', undefined, {})).toBe('localhost:50051');
    expect(serviceAddress('training', undefined, { RNAS_TRAINING_ADDR: '' })).toBe('localhost:50052');
    expect(() => serviceAddress('inference', ' ', {})).toThrow('--addr: expected host:port, got " "');
    expect(() => serviceAddress('inference', undefined, { RNAS_INFERENCE_ADDR: 'has space:1' })).toThrow(
      'RNAS_INFERENCE_ADDR: expected host:port, got "has space:1"',
    );
  });
});
