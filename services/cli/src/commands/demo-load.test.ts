// The demo's Classify load generator against a stand-in inference service: every image gets its
// class, requests overlap up to the concurrency, a full queue is waited out, failures stop the load.
import {
  createClient,
  ResourceExhaustedError,
  startFakeService,
  type FakeService,
  NotFoundError,
} from '@rnas/grpc';
import { InferenceServiceService, type ClassifyRequest } from '@rnas/proto';
import { classifyLoad, type ClassifyLoadOptions } from './demo-load';

/** The stand-in's class of an image is its number mod 10 (the tensor's first value of each image). */
let fake: FakeService;
let inFlight = 0;
let mostInFlight = 0;
let refusals = 0;
let calls = 0;
const requests: ClassifyRequest[] = [];

beforeAll(async () => {
  fake = await startFakeService(InferenceServiceService, {
    classify: async (request) => {
      calls++;
      requests.push(request);
      if (request.modelName === 'missing') throw new NotFoundError('model', request.modelName);
      if (refusals > 0) {
        refusals--;
        throw new ResourceExhaustedError('queue of model m version 1 is full');
      }
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 10));
      inFlight--;
      const tensor = request.input?.$case === 'tensor' ? request.input.value : undefined;
      const images = tensor?.shape[0] ?? 0;
      const per = (tensor?.values.length ?? 0) / Math.max(1, images);
      const count = request.modelName === 'short' ? images - 1 : images;
      return {
        modelName: request.modelName,
        version: 1,
        classifications: Array.from({ length: count }, (_, i) => ({
          scores: [{ classIndex: (tensor?.values[i * per] ?? 0) % 10, label: '', score: 1 }],
        })),
      };
    },
    listModels: () => ({ models: [] }),
    getModel: () => ({ model: undefined }),
  });
});

afterAll(() => fake.server.shutdown());

function load(overrides: Partial<ClassifyLoadOptions>): Promise<Int32Array> {
  const client = createClient(InferenceServiceService, fake.address);
  return classifyLoad({
    client,
    model: 'm',
    version: 1,
    images: 23,
    // Two values per image, the first its number.
    input: (start, count) => ({
      $case: 'tensor',
      value: {
        shape: [count, 1, 2, 1],
        values: Array.from({ length: 2 * count }, (_, i) => start + (i >> 1)),
      },
    }),
    requestImages: 4,
    concurrency: 3,
    deadlineMs: 10_000,
    retryDelayMs: 1,
    ...overrides,
  }).finally(() => client.close());
}

beforeEach(() => {
  mostInFlight = 0;
  refusals = 0;
  calls = 0;
  requests.length = 0;
});

describe('classifyLoad', () => {
  it('classifies every image, requestImages per request, with up to `concurrency` requests in flight', async () => {
    const progress: number[] = [];
    const predicted = await load({ onProgress: (done) => progress.push(done) });
    expect([...predicted]).toEqual(Array.from({ length: 23 }, (_, i) => i % 10));
    expect(requests.map((r) => r.input?.$case === 'tensor' && r.input.value.shape[0])).toEqual([
      4, 4, 4, 4, 4, 3,
    ]);
    expect(requests.every((r) => r.modelName === 'm' && r.version === 1 && r.topK === 1)).toBe(true);
    expect(mostInFlight).toBeGreaterThan(1);
    expect(mostInFlight).toBeLessThanOrEqual(3);
    expect(progress.at(-1)).toBe(23);
  });

  it('sends a request again while the queue is full, and gives up after maxRetries', async () => {
    refusals = 5;
    expect((await load({ images: 4, concurrency: 1 })).length).toBe(4);
    expect(calls).toBe(6);
    refusals = 100;
    await expect(load({ images: 4, concurrency: 1, maxRetries: 3 })).rejects.toThrow(
      'Classify of test images 0..3 failed: RESOURCE_EXHAUSTED queue of model m version 1 is full',
    );
    expect(calls).toBe(6 + 4);
  });

  it('stops at the first failure, and refuses an answer with too few classifications', async () => {
    await expect(load({ model: 'missing', concurrency: 1 })).rejects.toThrow(
      'Classify of test images 0..3 failed: NOT_FOUND model "missing" not found',
    );
    expect(calls).toBe(1);
    await expect(load({ model: 'short', images: 3 })).rejects.toThrow(
      'Classify of test images 0..2 answered 2 classifications for 3 images',
    );
  });

  it('classifies nothing when there are no images, and refuses a zero concurrency or request size', async () => {
    expect((await load({ images: 0 })).length).toBe(0);
    expect(calls).toBe(0);
    await expect(load({ concurrency: 0 })).rejects.toThrow('must be >= 1');
    await expect(load({ requestImages: 0 })).rejects.toThrow('must be >= 1');
  });
});
