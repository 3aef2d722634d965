import { ClassificationNetwork } from '@rnas/tasks';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { status, type ServiceError } from '@grpc/grpc-js';
import sharp from 'sharp';
import { initBackend, tf } from '@rnas/engine';
import {
  checkHealth,
  createClient,
  createLogger,
  sampleValue,
  scrapeLocalMetrics,
  type CallOptions,
  type PromiseClient,
} from '@rnas/grpc';
import { ClassifyRequest, InferenceServiceService, ModelVersionState, NetworkVariant } from '@rnas/proto';
import {
  loadModel,
  normalizePixels,
  publishModel,
  syntheticArtifact,
  WEIGHTS_FILE,
  type ModelArtifact,
} from '@rnas/model';
import { loadInferenceConfig } from './config';
import { decodeImage } from './preprocess';
import { main, startInferenceService, type InferenceService } from './service';

// The service runs its forward passes in a worker thread from the compiled dist/ (as in
// production); `tsc -b` is incremental, so this costs a second or two when nothing changed.
const ROOT = path.resolve(__dirname, '../../..');
beforeAll(() => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'services/inference'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}, 600_000);

const MAX_BATCH = 8;
const MAX_MESSAGE_BYTES = 1024 * 1024;

interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ service: 'inference', level: 'info', destination }), lines };
}

async function start(repo: string, flags: string[] = []): Promise<InferenceService> {
  const config = loadInferenceConfig(
    [
      ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'],
      ...['--model-repo', repo, '--repo-poll-ms', '60000'],
      ...['--max-batch-size', String(MAX_BATCH), '--max-message-bytes', String(MAX_MESSAGE_BYTES)],
      ...flags,
    ],
    {},
  );
  return startInferenceService(config, { logger: capture().logger, shutdownSignals: [] });
}

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function healthStatus(port: number): Promise<string> {
  return checkHealth(`127.0.0.1:${port}`, 'relativenas.v1.InferenceService');
}

type InferenceClient = PromiseClient<typeof InferenceServiceService>;

function inferenceClient(address: string): InferenceClient {
  return createClient(InferenceServiceService, address);
}

/** Classify with the request's defaults filled in: the tests write only the fields that matter. */
function classify(
  client: InferenceClient,
  request: Partial<ClassifyRequest>,
  options?: CallOptions,
): ReturnType<InferenceClient['classify']> {
  return client.classify(ClassifyRequest.fromPartial(request), options);
}

/** Pseudo-random RGB pixels, as a sharp pipeline to encode. */
function noiseImage(width: number, height: number, seed: number): ReturnType<typeof sharp> {
  const data = Buffer.alloc(width * height * 3);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid PNG header announcing width x height, followed by a few bytes of data (a decompression bomb's shape). */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Softmax probabilities of a model computed in this process, from the same decoded pixels. */
async function inProcess(artifact: ModelArtifact, images: Buffer[]): Promise<Float32Array> {
  const pre = artifact.preprocessing;
  const shape = { height: pre.inputHeight, width: pre.inputWidth, channels: pre.channels };
  const size = shape.height * shape.width * shape.channels;
  const pixels = new Uint8Array(images.length * size);
  for (const [i, bytes] of images.entries())
    pixels.set(await decodeImage(bytes, 'image', shape, 1e9), i * size);
  return forward(artifact, normalizePixels(pre, pixels, images.length), images.length);
}

function forward(artifact: ModelArtifact, values: Float32Array, n: number): Float32Array {
  const model = loadModel(artifact);
  try {
    const pre = artifact.preprocessing;
    return tf.tidy(() => {
      const x = tf.tensor4d(values, [n, pre.inputHeight, pre.inputWidth, pre.channels]);
      return tf
        .softmax((model.network as ClassificationNetwork).network.forward(model.params, x).logits)
        .dataSync() as Float32Array;
    });
  } finally {
    model.dispose();
  }
}

/** Scores by class index for every image of a response. */
function scoresByClass(
  classifications: { scores: { classIndex: number; score: number }[] }[],
  classes: number,
) {
  return classifications.map((c) => {
    const row = new Array<number>(classes).fill(NaN);
    for (const s of c.scores) row[s.classIndex] = s.score;
    return row;
  });
}

describe('InferenceService over gRPC', () => {
  let root: string;
  let repo: string;
  let service: InferenceService;
  let client: InferenceClient;
  let tiny: ModelArtifact;
  let rgb: ModelArtifact;
  let png: Buffer;
  let jpeg: Buffer;
  let webp: Buffer;

  beforeAll(async () => {
    await initBackend();
    tiny = syntheticArtifact({ seed: 1, inChannels: 1, inputSize: 16, layers: 3, channels: 4 });
    rgb = syntheticArtifact({ seed: 2, inChannels: 3, inputSize: 16, layers: 2, channels: 4, classes: 4 });
    root = await mkdtemp(path.join(tmpdir(), 'rnas-inference-'));
    repo = path.join(root, 'models');
    await publishModel(repo, 'tiny', tiny);
    await publishModel(repo, 'rgb', rgb);
    png = await noiseImage(40, 32, 1).png().toBuffer();
    jpeg = await noiseImage(16, 16, 2).jpeg().toBuffer();
    webp = await noiseImage(23, 57, 3).webp().toBuffer();
    service = await start(repo);
    await service.ready;
    client = inferenceClient(`127.0.0.1:${service.port}`);
  });

  afterAll(async () => {
    client?.close();
    await service?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('reports SERVING once loaded and lists every model with its versions', async () => {
    expect(await healthStatus(service.port)).toBe('SERVING');
    const { models } = await client.listModels({});
    expect(models.map((m) => [m.name, m.servingVersion, m.versions.map((v) => v.state)])).toEqual([
      ['rgb', 1, [ModelVersionState.MODEL_VERSION_STATE_READY]],
      ['tiny', 1, [ModelVersionState.MODEL_VERSION_STATE_READY]],
    ]);
    // ListModels stays small: labels come with GetModel.
    expect(models[1].versions[0].labels).toEqual([]);
  });

  it('describes a model: spec with genotype, labels, input shape, preprocessing, versions', async () => {
    const { model } = await client.getModel({ modelName: 'tiny' });
    const version = model?.versions[0];
    expect(model?.servingVersion).toBe(1);
    expect(version?.spec).toMatchObject({
      variant: NetworkVariant.NETWORK_VARIANT_CIFAR,
      channels: 4,
      layers: 3,
      classes: 10,
      inputChannels: 1,
      inputSize: 16,
      auxiliary: false,
    });
    expect(version?.spec?.genotype?.normal[0]).toEqual({ op: tiny.spec.genotype.normal[0][0], input: 0 });
    expect(version?.labels).toEqual(tiny.labels);
    expect(version?.inputShape).toEqual({ height: 16, width: 16, channels: 1 });
    expect(version?.preprocessing?.mean[0]).toBeCloseTo(tiny.preprocessing.mean[0]);
    expect(version?.parameterCount).toBeGreaterThan(1000);
    expect(version?.loadedUnixMs).toBeGreaterThan(0);
    expect(version?.publishedUnixMs).toBeGreaterThan(0);
    const missing = await failure(client.getModel({ modelName: 'nope' }));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toBe('model "nope" not found');
  });

  it('classifies PNG, JPEG and WebP as an in-process forward of the same model does', async () => {
    const images = [png, jpeg, webp];
    const response = await classify(client, {
      modelName: 'tiny',
      topK: 10,
      input: { $case: 'images', value: { images } },
    });
    expect(response.modelName).toBe('tiny');
    expect(response.version).toBe(1);
    expect(response.classifications).toHaveLength(3);
    const expected = await inProcess(tiny, images);
    scoresByClass(response.classifications, 10).forEach((row, i) => {
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      row.forEach((score, c) => expect(score).toBeCloseTo(expected[i * 10 + c], 5));
    });
    for (const { scores } of response.classifications) {
      for (let j = 1; j < scores.length; j++)
        expect(scores[j - 1].score).toBeGreaterThanOrEqual(scores[j].score);
      expect(scores[0].label).toBe(`class-${scores[0].classIndex}`);
    }
  });

  it('gives an RGB model three channels and caps top_k at the class count', async () => {
    const response = await classify(client, {
      modelName: 'rgb',
      topK: 50,
      input: { $case: 'images', value: { images: [png] } },
    });
    expect(response.classifications[0].scores).toHaveLength(4);
    const expected = await inProcess(rgb, [png]);
    scoresByClass(response.classifications, 4)[0].forEach((s, c) => expect(s).toBeCloseTo(expected[c], 5));
    const defaultK = await classify(client, {
      modelName: 'tiny',
      input: { $case: 'images', value: { images: [png] } },
    });
    expect(defaultK.classifications[0].scores).toHaveLength(5);
  });

  it('classifies a raw tensor as the in-process forward does', async () => {
    const values = Array.from({ length: 2 * 16 * 16 }, (_, i) => Math.sin(i));
    const response = await classify(client, {
      modelName: 'tiny',
      topK: 10,
      input: { $case: 'tensor', value: { shape: [2, 16, 16, 1], values } },
    });
    const expected = forward(tiny, Float32Array.from(values), 2);
    scoresByClass(response.classifications, 10).forEach((row, i) =>
      row.forEach((score, c) => expect(score).toBeCloseTo(expected[i * 10 + c], 5)),
    );
  });

  // This model's logits overflow to NaN for ±3e38 everywhere (they answered OK with ten NaN scores
  // in arbitrary order before); for 1e30 they are finite but huge (~1e29), which only a softmax
  // that subtracts the largest logit turns into finite probabilities.
  it.each<[number, 'refused' | 'answered']>([
    [3e38, 'refused'],
    [-3e38, 'refused'],
    [1e30, 'answered'],
  ])('never answers NaN: a tensor of %p everywhere is %s', async (extreme, outcome) => {
    const request = {
      modelName: 'tiny',
      topK: 10,
      input: {
        $case: 'tensor' as const,
        value: { shape: [1, 16, 16, 1], values: new Array<number>(256).fill(extreme) },
      },
    };
    if (outcome === 'refused') {
      const error = await failure(classify(client, request));
      expect({ code: error.code, details: error.details }).toEqual({
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(
          /^invalid tensor\.values="image 0": the input produced non-finite outputs \(logit 0 is NaN\): the network overflowed/,
        ),
      });
    } else {
      const { scores } = (await classify(client, request)).classifications[0];
      expect(scores).toHaveLength(10);
      for (const { score } of scores) expect(Number.isFinite(score) && score >= 0 && score <= 1).toBe(true);
      for (let j = 1; j < scores.length; j++) {
        expect(scores[j - 1].score).toBeGreaterThanOrEqual(scores[j].score);
        // Equal scores (the zeros) in class order: the order is defined.
        if (scores[j - 1].score === scores[j].score)
          expect(scores[j - 1].classIndex).toBeLessThan(scores[j].classIndex);
      }
      expect(scores.reduce((sum, s) => sum + s.score, 0)).toBeCloseTo(1, 5);
    }
    // The service goes on, and a normal tensor is answered as before.
    const values = Array.from({ length: 256 }, (_, i) => Math.sin(i));
    const normal = await classify(client, {
      ...request,
      input: { $case: 'tensor', value: { shape: [1, 16, 16, 1], values } },
    });
    const expected = forward(tiny, Float32Array.from(values), 1);
    scoresByClass(normal.classifications, 10)[0].forEach((score, c) =>
      expect(score).toBeCloseTo(expected[c], 5),
    );
  });

  describe('bad input: the right code, a message naming the field, and the service goes on', () => {
    const images = (...list: Buffer[]): Partial<ClassifyRequest> => ({
      modelName: 'tiny',
      input: { $case: 'images', value: { images: list } },
    });
    it.each<[string, () => Partial<ClassifyRequest>, status, RegExp]>([
      [
        'an empty image',
        () => images(png, Buffer.alloc(0)),
        status.INVALID_ARGUMENT,
        /^invalid images\.images\[1\]=<0 bytes>: empty image$/,
      ],
      [
        'a corrupt image',
        () => images(Buffer.concat([jpeg.subarray(0, 3), Buffer.alloc(500, 9)])),
        status.INVALID_ARGUMENT,
        /^invalid images\.images\[0\]=<503 bytes>: not a decodable JPEG, PNG or WebP image \(.+\)$/,
      ],
      [
        'another format',
        () => images(Buffer.from('GIF89a and the rest')),
        status.INVALID_ARGUMENT,
        /^invalid images\.images\[0\]=<19 bytes>: format gif is not accepted: expected JPEG, PNG or WebP$/,
      ],
      [
        'a truncated PNG',
        () => images(png.subarray(0, png.length >> 1)),
        status.INVALID_ARGUMENT,
        /images\.images\[0\].*not a decodable/,
      ],
      [
        'a 20000x20000 image',
        () => images(pngHeader(20_000, 20_000)),
        status.INVALID_ARGUMENT,
        /^invalid images\.images\[0\]=<\d+ bytes>: 20000x20000 pixels is more than the limit of 25000000/,
      ],
      [
        'no images',
        () => images(),
        status.INVALID_ARGUMENT,
        /^invalid images\.images="0 images": expected at least one image$/,
      ],
      [
        'too many images',
        () => images(...new Array<Buffer>(MAX_BATCH + 1).fill(png)),
        status.INVALID_ARGUMENT,
        /^invalid images\.images="9 images": at most 8 images per request/,
      ],
      [
        'no input',
        () => ({ modelName: 'tiny' }),
        status.INVALID_ARGUMENT,
        /^invalid input=undefined: set images/,
      ],
      [
        'no model name',
        () => ({ modelName: '', input: images(png).input }),
        status.INVALID_ARGUMENT,
        /^invalid model_name="": required$/,
      ],
      [
        'an unknown model',
        () => ({ ...images(png), modelName: 'ghost' }),
        status.NOT_FOUND,
        /^model "ghost" not found$/,
      ],
      [
        'an unknown version',
        () => ({ ...images(png), version: 42 }),
        status.NOT_FOUND,
        /^model version "tiny\/42" not found$/,
      ],
      ['version 0', () => ({ ...images(png), version: 0 }), status.INVALID_ARGUMENT, /^invalid version=0/],
      [
        'top_k out of range',
        () => ({ ...images(png), topK: 5000 }),
        status.INVALID_ARGUMENT,
        /^invalid top_k=5000: expected 0 \(meaning 5\) to 1000/,
      ],
      [
        'a wrong tensor shape',
        () => ({
          modelName: 'tiny',
          input: {
            $case: 'tensor',
            value: { shape: [1, 16, 16, 3], values: new Array<number>(768).fill(0) },
          },
        }),
        status.INVALID_ARGUMENT,
        /^invalid tensor\.shape=\[1,16,16,3\]: expected \[N, 16, 16, 1\]/,
      ],
      [
        'a short tensor',
        () => ({
          modelName: 'tiny',
          input: { $case: 'tensor', value: { shape: [1, 16, 16, 1], values: [1, 2, 3] } },
        }),
        status.INVALID_ARGUMENT,
        /^invalid tensor\.values="3 values": shape \[1, 16, 16, 1\] needs 256 values$/,
      ],
      [
        'a NaN value',
        () => ({
          modelName: 'tiny',
          input: {
            $case: 'tensor',
            value: {
              shape: [1, 16, 16, 1],
              values: Array.from({ length: 256 }, (_, i) => (i === 77 ? NaN : 0)),
            },
          },
        }),
        status.INVALID_ARGUMENT,
        /^invalid tensor\.values\[77\]=NaN: must be finite$/,
      ],
      [
        'an infinite value',
        () => ({
          modelName: 'tiny',
          input: {
            $case: 'tensor',
            value: {
              shape: [1, 16, 16, 1],
              values: Array.from({ length: 256 }, (_, i) => (i === 3 ? -Infinity : 0)),
            },
          },
        }),
        status.INVALID_ARGUMENT,
        /^invalid tensor\.values\[3\]=-Infinity: must be finite$/,
      ],
      [
        'a +Infinity value',
        () => ({
          modelName: 'tiny',
          input: {
            $case: 'tensor',
            value: {
              shape: [1, 16, 16, 1],
              values: Array.from({ length: 256 }, (_, i) => (i === 200 ? Infinity : 3e38)),
            },
          },
        }),
        status.INVALID_ARGUMENT,
        /^invalid tensor\.values\[200\]=Infinity: must be finite$/,
      ],
      [
        'an oversized message',
        () => images(Buffer.alloc(MAX_MESSAGE_BYTES + 1024, 7)),
        status.RESOURCE_EXHAUSTED,
        /^Received message larger than max \(\d+ vs 1048576\)$/,
      ],
    ])('%s', async (_what, request, code, message) => {
      const error = await failure(classify(client, request()));
      expect({ code: error.code, details: error.details }).toEqual({
        code,
        details: expect.stringMatching(message),
      });
    });

    it('still answers after all of them', async () => {
      const response = await classify(client, images(png));
      expect(response.classifications).toHaveLength(1);
    });
  });

  it('frees every tensor it makes: many Classify calls leave tf.memory() where it was', async () => {
    const request = {
      modelName: 'tiny',
      input: { $case: 'images' as const, value: { images: [png, webp] } },
    };
    await classify(client, request);
    const before = tf.memory().numTensors;
    for (let round = 0; round < 10; round++)
      await Promise.all([1, 2, 3, 4].map(() => classify(client, request)));
    await failure(classify(client, { ...request, modelName: 'ghost' }));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('batches concurrent requests dynamically (the batch-size histogram shows it)', async () => {
    const series = 'rnas_inference_batch_size_count{model="rgb",version="1"}';
    const sum = 'rnas_inference_batch_size_sum{model="rgb",version="1"}';
    const port = service.metricsPort as number;
    const before = await scrapeLocalMetrics(port);
    const requests = Array.from({ length: MAX_BATCH }, () =>
      classify(client, { modelName: 'rgb', input: { $case: 'images', value: { images: [jpeg] } } }),
    );
    await Promise.all(requests);
    const after = await scrapeLocalMetrics(port);
    const batches = sampleValue(after, series) - sampleValue(before, series);
    expect(sampleValue(after, sum) - sampleValue(before, sum)).toBe(MAX_BATCH);
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThan(MAX_BATCH);
  });

  it('exports the domain series, tfjs memory and the grpc_server_* families', async () => {
    const text = await scrapeLocalMetrics(service.metricsPort as number);
    for (const name of [
      'rnas_inference_requests_total{model="tiny",version="1",code="OK"}',
      'rnas_inference_requests_total{model="tiny",version="1",code="INVALID_ARGUMENT"}',
      'rnas_inference_request_duration_seconds_count{model="tiny",version="1"}',
      'rnas_inference_queue_duration_seconds_count{model="tiny",version="1"}',
      'rnas_inference_compute_duration_seconds_count{model="tiny",version="1"}',
      'rnas_inference_preprocess_duration_seconds_count{model="tiny",version="1"}',
      'rnas_inference_images_total{model="tiny",version="1"}',
      'rnas_inference_models_loaded',
      'rnas_inference_model_versions{state="ready"}',
      'rnas_tfjs_tensors',
      'rnas_tfjs_bytes',
    ]) {
      expect([name, sampleValue(text, name) > 0]).toEqual([name, true]);
    }
    expect(text).toContain('rnas_inference_queue_depth{model="tiny",version="1"} 0');
    expect(text).toMatch(/grpc_server_handled_total\{.*grpc_method="Classify".*grpc_code="NotFound"\} \d+/);
    // A request for a model that does not exist creates no series.
    expect(text).not.toContain('ghost');
  });

  it('picks up a new version, refuses a broken one while the old keeps serving, retries it once fixed, unloads a removed one', async () => {
    const v2 = syntheticArtifact({ seed: 9, inChannels: 1, inputSize: 16, layers: 3, channels: 4 });
    expect((await publishModel(repo, 'tiny', v2)).version).toBe(2);
    await until('version 2 ready', async () => {
      const { model } = await client.getModel({ modelName: 'tiny' });
      return model?.servingVersion === 2 ? true : undefined;
    });
    const defaulted = await classify(client, {
      modelName: 'tiny',
      topK: 10,
      input: { $case: 'images', value: { images: [png] } },
    });
    expect(defaulted.version).toBe(2);
    const expected = await inProcess(v2, [png]);
    scoresByClass(defaulted.classifications, 10)[0].forEach((s, c) => expect(s).toBeCloseTo(expected[c], 5));
    const pinned = await classify(client, {
      modelName: 'tiny',
      version: 1,
      input: { $case: 'images', value: { images: [png] } },
    });
    expect(pinned.version).toBe(1);

    // Version 3: complete files, but weights that are no safetensors; published by one rename.
    const staging = path.join(repo, 'tiny', '.staging-3');
    await cp(path.join(repo, 'tiny', '2'), staging, { recursive: true });
    await writeFile(path.join(staging, WEIGHTS_FILE), 'not safetensors at all');
    await rename(staging, path.join(repo, 'tiny', '3'));
    const broken = await until('version 3 failed', async () => {
      const { model } = await client.getModel({ modelName: 'tiny' });
      const v3 = model?.versions.find((v) => v.version === 3);
      return v3?.state === ModelVersionState.MODEL_VERSION_STATE_FAILED ? { model, v3 } : undefined;
    });
    expect(broken.v3.error).toMatch(/weights\.safetensors/);
    expect(broken.model?.servingVersion).toBe(2);
    const still = await classify(client, {
      modelName: 'tiny',
      input: { $case: 'images', value: { images: [png] } },
    });
    expect(still.version).toBe(2);
    const refused = await failure(
      classify(client, {
        modelName: 'tiny',
        version: 3,
        input: { $case: 'images', value: { images: [png] } },
      }),
    );
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/^model tiny version 3 failed to load: /);
    const metrics = await scrapeLocalMetrics(service.metricsPort as number);
    expect(sampleValue(metrics, 'rnas_inference_model_load_failures_total{model="tiny"}')).toBe(1);

    // Fixing the files makes the service try again.
    await cp(path.join(repo, 'tiny', '2', WEIGHTS_FILE), path.join(repo, 'tiny', '3', WEIGHTS_FILE));
    await until('version 3 ready', async () => {
      const { model } = await client.getModel({ modelName: 'tiny' });
      return model?.servingVersion === 3 ? true : undefined;
    });

    const loaded = (await service.engine.readMemory()).numTensors;
    await rm(path.join(repo, 'tiny', '1'), { recursive: true });
    await until('version 1 gone', async () => {
      const { model } = await client.getModel({ modelName: 'tiny' });
      return model?.versions.some((v) => v.version === 1) ? undefined : true;
    });
    const gone = await failure(
      classify(client, {
        modelName: 'tiny',
        version: 1,
        input: { $case: 'images', value: { images: [png] } },
      }),
    );
    expect(gone.code).toBe(status.NOT_FOUND);
    // Its parameters left the engine.
    expect((await service.engine.readMemory()).numTensors).toBeLessThan(loaded);
  });

  it('survives the loss of its compute worker: the models load again in a new one', async () => {
    const before = (await client.listModels({})).models.map((m) => [m.name, m.servingVersion]);
    const threadId = service.engine.worker.threadId;
    await service.engine.worker.terminate();
    await until('every version ready again', async () => {
      const { models } = await client.listModels({});
      const ready = models.every((m) =>
        m.versions.every((v) => v.state === ModelVersionState.MODEL_VERSION_STATE_READY),
      );
      return ready && service.engine.worker.threadId !== threadId ? true : undefined;
    });
    expect((await client.listModels({})).models.map((m) => [m.name, m.servingVersion])).toEqual(before);
    const response = await classify(client, {
      modelName: 'rgb',
      input: { $case: 'images', value: { images: [png] } },
    });
    expect(response.classifications).toHaveLength(1);
  });

  it('stops cleanly: the port closes and the worker is gone', async () => {
    await service.close();
    await service.stopped;
    expect(service.engine.running).toBe(false);
    await expect(healthStatus(service.port)).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});

describe('InferenceService queue', () => {
  let root: string;
  let service: InferenceService;
  let client: InferenceClient;

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(path.join(tmpdir(), 'rnas-inference-queue-'));
    await publishModel(path.join(root, 'models'), 'tiny', syntheticArtifact({ layers: 2 }));
    // A long queue delay keeps requests queued long enough to fill the queue and to expire.
    service = await start(path.join(root, 'models'), [
      ...['--max-queue-size', '2', '--max-queue-delay-ms', '400'],
    ]);
    await service.ready;
    client = inferenceClient(`127.0.0.1:${service.port}`);
  });

  afterAll(async () => {
    client?.close();
    await service?.close();
    await rm(root, { recursive: true, force: true });
  });

  const tensor = (): Partial<ClassifyRequest> => ({
    modelName: 'tiny',
    input: { $case: 'tensor', value: { shape: [1, 16, 16, 1], values: new Array<number>(256).fill(0.5) } },
  });

  it('refuses requests beyond the bounded queue with RESOURCE_EXHAUSTED', async () => {
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => classify(client, tensor())));
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'OK' : (r.reason as ServiceError).code));
    expect(codes.filter((c) => c === 'OK')).toHaveLength(2);
    expect(codes.filter((c) => c === status.RESOURCE_EXHAUSTED)).toHaveLength(2);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((refused.reason as ServiceError).details).toMatch(
      /queue of model tiny version 1 is full \(2 requests/,
    );
  });

  it('drops requests whose deadline passed or that were cancelled, without computing them', async () => {
    const metricsPort = service.metricsPort as number;
    const batches = 'rnas_inference_batch_size_sum{model="tiny",version="1"}';
    const before = sampleValue(await scrapeLocalMetrics(metricsPort), batches);
    const expired = await failure(classify(client, tensor(), { deadlineMs: 100 }));
    expect(expired.code).toBe(status.DEADLINE_EXCEEDED);
    const controller = new AbortController();
    const cancelled = failure(classify(client, tensor(), { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    expect((await cancelled).code).toBe(status.CANCELLED);
    // Give the server a moment past the queue delay: nothing was left to compute.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const text = await scrapeLocalMetrics(metricsPort);
    expect(sampleValue(text, batches)).toBe(before);
    expect(text).toContain('rnas_inference_queue_depth{model="tiny",version="1"} 0');
    // The queue has room again.
    expect((await classify(client, tensor())).classifications).toHaveLength(1);
  });
});

describe('InferenceService start', () => {
  it('is NOT_SERVING until the models found at start are loaded', async () => {
    await initBackend();
    const root = await mkdtemp(path.join(tmpdir(), 'rnas-inference-start-'));
    try {
      // Several versions of a larger model make the initial load take a while.
      const big = syntheticArtifact({ layers: 5, channels: 8, inputSize: 32, inChannels: 3 });
      for (let i = 0; i < 3; i++) await publishModel(path.join(root, 'models'), 'big', big);
      const service = await start(path.join(root, 'models'), ['--max-batch-size', '32']);
      try {
        expect(await healthStatus(service.port)).toBe('NOT_SERVING');
        await service.ready;
        expect(await healthStatus(service.port)).toBe('SERVING');
      } finally {
        await service.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('reports every problem of a bad configuration, and documents its flags', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'rnas-inference-config-'));
    // The directories are valid (and created) even though other values are not.
    const env = { RNAS_STATE_DIR: path.join(root, 'state'), RNAS_MODEL_REPO: path.join(root, 'models') };
    const stderr: string[] = [];
    const io = { stdout: { write: () => true }, stderr: { write: (t: string) => stderr.push(t) } };
    try {
      expect(
        await main(['--port', 'http', '--max-batch-size', '0', '--dynamic-batching', 'maybe'], env, io),
      ).toBe(2);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    const text = stderr.join('');
    expect(text).toMatch(/--port "http": expected a whole number from 0 to 65535/);
    expect(text).toMatch(/--max-batch-size "0": must be at least 1/);
    expect(text).toMatch(/--dynamic-batching "maybe": expected on or off/);
    const stdout: string[] = [];
    expect(
      await main(['--help'], {}, { stdout: { write: (t: string) => stdout.push(t) }, stderr: io.stderr }),
    ).toBe(0);
    expect(stdout.join('')).toMatch(/--max-queue-delay-ms\s+RNAS_MAX_QUEUE_DELAY_MS/);
  });
});
