import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import sharp from 'sharp';
import {
  checkHealth,
  createClient,
  createLogger,
  scrapeLocalMetrics,
  sampleValue,
  type PromiseClient,
} from '@rnas/grpc';
import {
  ClassifyRequest,
  DataType,
  GRPCInferenceServiceClient,
  GRPCInferenceServiceService,
  InferenceServiceService,
  InferTensorContents,
  ModelInferRequest,
  ModelInput_Format,
  type ModelInferRequest_InferInputTensor,
  type InferParameter,
  type ModelInferResponse,
  type ModelStreamInferResponse,
} from '@rnas/proto';
import { publishModel, syntheticArtifact, type ModelArtifact } from '@rnas/model';
import { initBackend } from '@rnas/engine';
import { Writable } from 'node:stream';
import { loadInferenceConfig } from '../config';
import { startInferenceService, type InferenceService } from '../service';
import { joinBytesElements } from './tensors';

// The service runs its forward passes in a worker thread from the compiled dist/.
const ROOT = path.resolve(__dirname, '../../../..');
beforeAll(() => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'services/inference'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}, 600_000);

const MAX_BATCH = 8;
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Long enough that a ModelInfer and a Classify sent together always meet in the queue. */
const QUEUE_DELAY_MS = 400;

type Oip = PromiseClient<typeof GRPCInferenceServiceService>;

function quietLogger(): ReturnType<typeof createLogger> {
  return createLogger({
    service: 'inference',
    level: 'error',
    destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
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
  const service = await startInferenceService(config, { logger: quietLogger(), shutdownSignals: [] });
  await service.ready;
  return service;
}

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

function noiseImage(width: number, height: number, seed: number): ReturnType<typeof sharp> {
  const data = Buffer.alloc(width * height * 3);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

function floats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 8) / 2 ** 24 - 0.5;
  }
  return out;
}

function rawFloats(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

function readFloats(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) out.push(bytes.readFloatLE(i));
  return out;
}

function readInts(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) out.push(bytes.readInt32LE(i));
  return out;
}

/** A series as prom-client prints it: labels in the order given. */
function series(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(',')}}`;
}

const int64 = (value: number): InferParameter => ({ parameterChoice: { $case: 'int64Param', value } });

/** A ModelInfer request with the defaults filled in. */
function inferRequest(fields: Partial<ModelInferRequest>): ModelInferRequest {
  return { ...ModelInferRequest.fromPartial({}), ...fields };
}

function inputTensor(
  name: string,
  datatype: string,
  shape: number[],
  contents?: Partial<InferTensorContents>,
): ModelInferRequest_InferInputTensor {
  return {
    name,
    datatype,
    shape,
    parameters: {},
    contents: contents && { ...InferTensorContents.fromPartial({}), ...contents },
  };
}

function imagesRequest(model: string, images: Buffer[], raw: boolean): ModelInferRequest {
  return inferRequest({
    modelName: model,
    inputs: [inputTensor('images', 'BYTES', [images.length, 1], raw ? undefined : { bytesContents: images })],
    rawInputContents: raw ? [joinBytesElements(images)] : [],
  });
}

function tensorRequest(
  model: string,
  values: Float32Array,
  shape: number[],
  raw: boolean,
): ModelInferRequest {
  return inferRequest({
    modelName: model,
    inputs: [inputTensor('input', 'FP32', shape, raw ? undefined : { fp32Contents: Array.from(values) })],
    rawInputContents: raw ? [rawFloats(values)] : [],
  });
}

/** An output's values, from contents or raw_output_contents. */
function outputValues(response: ModelInferResponse, name: string): number[] {
  const at = response.outputs.findIndex((output) => output.name === name);
  if (at === -1) throw new Error(`no output ${name}`);
  const output = response.outputs[at];
  if (response.rawOutputContents.length > 0) {
    return output.datatype === 'INT32'
      ? readInts(response.rawOutputContents[at])
      : readFloats(response.rawOutputContents[at]);
  }
  return output.datatype === 'INT32'
    ? (output.contents?.intContents ?? [])
    : (output.contents?.fp32Contents ?? []);
}

describe('the Open Inference Protocol on the inference service', () => {
  let root: string;
  let service: InferenceService;
  let oip: Oip;
  let classic: PromiseClient<typeof InferenceServiceService>;
  let png: Buffer;
  let jpeg: Buffer;
  let tiny: ModelArtifact;

  beforeAll(async () => {
    await initBackend();
    tiny = syntheticArtifact({ seed: 1, inChannels: 1, inputSize: 16, layers: 3, channels: 4 });
    root = await mkdtemp(path.join(tmpdir(), 'rnas-oip-'));
    const repo = path.join(root, 'models');
    await publishModel(repo, 'tiny', tiny);
    await publishModel(
      repo,
      'det',
      syntheticArtifact({ task: 'detection', classes: 3, inputSize: 64, seed: 4 }),
    );
    await publishModel(repo, 'seg', syntheticArtifact({ task: 'segmentation', classes: 3, seed: 3 }));
    await publishModel(
      repo,
      'pose',
      syntheticArtifact({ task: 'keypoints', inputHeight: 64, inputWidth: 32, seed: 5 }),
    );
    png = await noiseImage(40, 32, 1).png().toBuffer();
    jpeg = await noiseImage(16, 16, 2).jpeg().toBuffer();
    service = await start(repo, ['--max-queue-delay-ms', String(QUEUE_DELAY_MS)]);
    oip = createClient(GRPCInferenceServiceService, `127.0.0.1:${service.port}`);
    classic = createClient(InferenceServiceService, `127.0.0.1:${service.port}`);
  }, 120_000);

  afterAll(async () => {
    oip?.close();
    classic?.close();
    await service?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers health, liveness, readiness and the server metadata on the same port', async () => {
    expect(await checkHealth(`127.0.0.1:${service.port}`, 'inference.GRPCInferenceService')).toBe('SERVING');
    expect(await oip.serverLive({})).toEqual({ live: true });
    expect(await oip.serverReady({})).toEqual({ ready: true });
    const metadata = await oip.serverMetadata({});
    expect(metadata.name).toBe('relativenas');
    expect(metadata.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(metadata.extensions).toEqual(
      expect.arrayContaining(['classification', 'model_configuration', 'model_repository', 'statistics']),
    );
  });

  it('tells which models are ready, with versions as strings', async () => {
    expect(await oip.modelReady({ name: 'tiny', version: '' })).toEqual({ ready: true });
    expect(await oip.modelReady({ name: 'tiny', version: '1' })).toEqual({ ready: true });
    expect(await oip.modelReady({ name: 'tiny', version: '2' })).toEqual({ ready: false });
    expect(await oip.modelReady({ name: 'nope', version: '' })).toEqual({ ready: false });
    const bad = await failure(oip.modelReady({ name: 'tiny', version: 'latest' }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toContain('version="latest"');
  });

  it("declares each task's inputs and outputs in ModelMetadata and ModelConfig", async () => {
    const tinyMeta = await oip.modelMetadata({ name: 'tiny', version: '' });
    expect(tinyMeta).toEqual({
      name: 'tiny',
      versions: ['1'],
      platform: 'relativenas_tfjs',
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [-1, 16, 16, 1] },
        { name: 'images', datatype: 'BYTES', shape: [-1, 1] },
      ],
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: [-1, 10] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
      ],
    });
    const outputs = async (name: string): Promise<string[]> =>
      (await oip.modelMetadata({ name, version: '1' })).outputs.map(
        (o) => `${o.name}:${o.datatype}[${o.shape.join(',')}]`,
      );
    expect(await outputs('det')).toEqual([
      'boxes:FP32[-1,100,4]',
      'scores:FP32[-1,100]',
      'classes:INT32[-1,100]',
      'num_detections:INT32[-1]',
    ]);
    expect(await outputs('seg')).toEqual(['label_map:INT32[-1,64,64]']);
    expect((await outputs('pose'))[0]).toMatch(/^keypoints:FP32\[-1,\d+,3\]$/);
    const { config } = await oip.modelConfig({ name: 'tiny', version: '' });
    expect(config).toMatchObject({
      name: 'tiny',
      platform: 'relativenas_tfjs',
      maxBatchSize: MAX_BATCH,
      input: [
        {
          name: 'input',
          dataType: DataType.TYPE_FP32,
          format: ModelInput_Format.FORMAT_NHWC,
          dims: [16, 16, 1],
        },
        { name: 'images', dataType: DataType.TYPE_STRING, dims: [1] },
      ],
      output: [
        { name: 'logits', dataType: DataType.TYPE_FP32, dims: [10] },
        { name: 'probabilities', dataType: DataType.TYPE_FP32, dims: [10] },
      ],
      schedulingChoice: {
        $case: 'dynamicBatching',
        value: {
          maxQueueDelayMicroseconds: QUEUE_DELAY_MS * 1000,
          defaultQueuePolicy: { maxQueueSize: 256 },
        },
      },
    });
    const unknown = await failure(oip.modelMetadata({ name: 'nope', version: '' }));
    expect(unknown.code).toBe(status.NOT_FOUND);
    const missing = await failure(oip.modelConfig({ name: 'tiny', version: '9' }));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toContain('tiny/9');
  });

  it('classifies encoded images (typed and raw BYTES) as Classify does, and echoes the id', async () => {
    const images = [png, jpeg];
    const reference = await classic.classify(
      ClassifyRequest.fromPartial({
        modelName: 'tiny',
        topK: 10,
        input: { $case: 'images', value: { images } },
      }),
    );
    const expected = reference.classifications.map((c) => {
      const row = new Array<number>(10).fill(NaN);
      for (const s of c.scores) row[s.classIndex] = s.score;
      return row;
    });
    for (const raw of [false, true]) {
      const response = await oip.modelInfer({ ...imagesRequest('tiny', images, raw), id: `req-${raw}` });
      expect(response.modelName).toBe('tiny');
      expect(response.modelVersion).toBe('1');
      expect(response.id).toBe(`req-${raw}`);
      expect(response.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
        ['logits', 'FP32', [2, 10]],
        ['probabilities', 'FP32', [2, 10]],
      ]);
      // Raw inputs get raw outputs; typed inputs typed ones.
      expect(response.rawOutputContents.length).toBe(raw ? 2 : 0);
      const probabilities = outputValues(response, 'probabilities');
      for (const i of [0, 1]) {
        probabilities.slice(i * 10, i * 10 + 10).forEach((p, c) => expect(p).toBeCloseTo(expected[i][c], 6));
      }
      // The logits are the probabilities' own: their softmax gives them back.
      const logits = outputValues(response, 'logits').slice(0, 10);
      const top = Math.max(...logits);
      const sum = logits.reduce((a, v) => a + Math.exp(v - top), 0);
      logits.forEach((v, c) => expect(Math.exp(v - top) / sum).toBeCloseTo(probabilities[c], 5));
    }
  });

  it('takes FP32 tensors typed or raw, and answers as Classify does for the same floats', async () => {
    const values = floats(2 * 16 * 16, 7);
    const reference = await classic.classify(
      ClassifyRequest.fromPartial({
        modelName: 'tiny',
        topK: 10,
        input: { $case: 'tensor', value: { shape: [2, 16, 16, 1], values: Array.from(values) } },
      }),
    );
    const typed = await oip.modelInfer(tensorRequest('tiny', values, [2, 16, 16, 1], false));
    const raw = await oip.modelInfer(tensorRequest('tiny', values, [2, 16, 16, 1], true));
    expect(outputValues(raw, 'probabilities')).toEqual(outputValues(typed, 'probabilities'));
    const probabilities = outputValues(typed, 'probabilities');
    reference.classifications.forEach((c, i) =>
      c.scores.forEach((s) => expect(probabilities[i * 10 + s.classIndex]).toBeCloseTo(s.score, 6)),
    );
  });

  // As Classify: ±3e38 overflows this model's logits to NaN, 1e30 gives finite huge ones.
  it.each<[number, boolean, 'refused' | 'answered']>([
    [3e38, false, 'refused'],
    [-3e38, true, 'refused'],
    [1e30, false, 'answered'],
    [1e30, true, 'answered'],
  ])(
    'never answers NaN logits or probabilities: a tensor of %p (raw: %p) is %s',
    async (extreme, raw, outcome) => {
      const request = tensorRequest('tiny', new Float32Array(256).fill(extreme), [1, 16, 16, 1], raw);
      if (outcome === 'refused') {
        const error = await failure(oip.modelInfer(request));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toMatch(
          new RegExp(
            `^invalid ${raw ? 'raw_input_contents\\[0\\]' : 'inputs\\[0\\]\\.contents\\.fp32_contents'}="image 0": ` +
              'the input produced non-finite outputs \\(logit 0 is NaN\\): the network overflowed',
          ),
        );
        return;
      }
      const response = await oip.modelInfer(request);
      expect(outputValues(response, 'logits').every(Number.isFinite)).toBe(true);
      const probabilities = outputValues(response, 'probabilities');
      for (const p of probabilities) expect(Number.isFinite(p) && p >= 0 && p <= 1).toBe(true);
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    },
  );

  it("answers Triton's classification extension and only the requested outputs", async () => {
    const values = floats(16 * 16, 3);
    const request = tensorRequest('tiny', values, [1, 16, 16, 1], false);
    const all = await oip.modelInfer(request);
    const probabilities = outputValues(all, 'probabilities');
    const classified = await oip.modelInfer({
      ...request,
      outputs: [{ name: 'probabilities', parameters: { classification: int64(3) } }],
    });
    expect(classified.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['probabilities', 'BYTES', [1, 3]],
    ]);
    const best = [...probabilities.keys()].sort((a, b) => probabilities[b] - probabilities[a]).slice(0, 3);
    expect(classified.outputs[0].contents?.bytesContents.map(String)).toEqual(
      best.map((c) => `${probabilities[c].toFixed(6)}:${c}:${tiny.labels[c]}`),
    );
    // k above the class count is capped; raw requests get the strings length-prefixed.
    const rawClassified = await oip.modelInfer({
      ...tensorRequest('tiny', values, [1, 16, 16, 1], true),
      outputs: [
        { name: 'logits', parameters: {} },
        { name: 'probabilities', parameters: { classification: int64(50) } },
      ],
    });
    expect(rawClassified.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['logits', [1, 10]],
      ['probabilities', [1, 10]],
    ]);
    const strings = rawClassified.rawOutputContents[1];
    expect(strings.readUInt32LE(0)).toBe(
      `${probabilities[best[0]].toFixed(6)}:${best[0]}:${tiny.labels[best[0]]}`.length,
    );
  });

  it('serves detection, segmentation and keypoint models as named tensors', async () => {
    const det = await oip.modelInfer({
      ...imagesRequest('det', [png], true),
      parameters: { score_threshold: { parameterChoice: { $case: 'doubleParam', value: 0 } } },
    });
    const count = outputValues(det, 'num_detections');
    expect(count).toHaveLength(1);
    expect(count[0]).toBeGreaterThan(0);
    const boxes = outputValues(det, 'boxes');
    expect(boxes).toHaveLength(400);
    // In the image's own pixels (40x32), padding zero.
    for (let j = 0; j < count[0]; j++) {
      const [x1, y1, x2, y2] = boxes.slice(j * 4, j * 4 + 4);
      expect(x1).toBeGreaterThanOrEqual(0);
      expect(x2).toBeLessThanOrEqual(40);
      expect(y1).toBeLessThanOrEqual(y2);
      expect(y2).toBeLessThanOrEqual(32);
    }
    expect(boxes.slice(count[0] * 4).every((v) => v === 0)).toBe(true);
    const classes = outputValues(det, 'classes').slice(0, count[0]);
    expect(classes.every((c) => Number.isInteger(c) && c >= 0 && c < 3)).toBe(true);

    const seg = await oip.modelInfer(imagesRequest('seg', [png, jpeg], false));
    const labels = outputValues(seg, 'label_map');
    expect(seg.outputs[0].shape).toEqual([2, 64, 64]);
    expect(labels).toHaveLength(2 * 64 * 64);
    expect(labels.every((c) => c >= 0 && c < 3)).toBe(true);

    const pose = await oip.modelInfer(imagesRequest('pose', [png], false));
    const [n, k, three] = pose.outputs[0].shape;
    expect([n, three]).toEqual([1, 3]);
    const keypoints = outputValues(pose, 'keypoints');
    expect(keypoints).toHaveLength(k * 3);
    for (let j = 0; j < k; j++) {
      expect(keypoints[j * 3]).toBeLessThanOrEqual(40);
      expect(keypoints[j * 3 + 1]).toBeLessThanOrEqual(32);
    }
    const notClassifier = await failure(
      oip.modelInfer({
        ...imagesRequest('det', [png], false),
        outputs: [{ name: 'scores', parameters: { classification: int64(2) } }],
      }),
    );
    expect(notClassifier.code).toBe(status.INVALID_ARGUMENT);
    expect(notClassifier.details).toContain('outputs[0].parameters.classification');
  });

  it('batches a ModelInfer and a Classify that arrive together into one forward pass', async () => {
    const before = (await oip.modelStatistics({ name: 'tiny', version: '1' })).modelStats[0];
    const pairs = before.batchStats.find((b) => b.batchSize === 2)?.computeInfer?.count ?? 0;
    const values = floats(16 * 16, 11);
    await Promise.all([
      oip.modelInfer(tensorRequest('tiny', values, [1, 16, 16, 1], true)),
      classic.classify(
        ClassifyRequest.fromPartial({
          modelName: 'tiny',
          input: { $case: 'tensor', value: { shape: [1, 16, 16, 1], values: Array.from(values) } },
        }),
      ),
    ]);
    const after = (await oip.modelStatistics({ name: 'tiny', version: '1' })).modelStats[0];
    expect(after.executionCount).toBe(before.executionCount + 1);
    expect(after.inferenceCount).toBe(before.inferenceCount + 2);
    expect(after.batchStats.find((b) => b.batchSize === 2)?.computeInfer?.count).toBe(pairs + 1);
    expect(after.inferenceStats?.success?.count).toBe((before.inferenceStats?.success?.count ?? 0) + 2);
    expect(after.inferenceStats?.queue?.ns).toBeGreaterThan(before.inferenceStats?.queue?.ns ?? 0);
  });

  it('reports statistics per model and version, and Triton metric names', async () => {
    const all = await oip.modelStatistics({ name: '', version: '' });
    expect(all.modelStats.map((s) => `${s.name}/${s.version}`)).toEqual([
      'det/1',
      'pose/1',
      'seg/1',
      'tiny/1',
    ]);
    const tiny1 = all.modelStats.find((s) => s.name === 'tiny');
    expect(tiny1?.inferenceStats?.success?.count).toBeGreaterThan(0);
    expect(tiny1?.inferenceStats?.computeInfer?.ns).toBeGreaterThan(0);
    expect(tiny1?.lastInference).toBeGreaterThan(Date.now() - 600_000);
    await failure(oip.modelInfer(tensorRequest('tiny', new Float32Array(3), [1, 3], false)));
    const unknown = await failure(oip.modelStatistics({ name: 'nope', version: '' }));
    expect(unknown.code).toBe(status.NOT_FOUND);
    const after = (await oip.modelStatistics({ name: 'tiny', version: '' })).modelStats[0];
    expect(after.inferenceStats?.fail?.count).toBeGreaterThan(0);

    const text = await scrapeLocalMetrics(service.metricsPort ?? 0);
    const labels = { model: 'tiny', version: '1' };
    expect(sampleValue(text, series('nv_inference_request_success', labels))).toBe(
      after.inferenceStats?.success?.count,
    );
    expect(sampleValue(text, series('nv_inference_request_failure', { ...labels, reason: 'OTHER' }))).toBe(
      after.inferenceStats?.fail?.count,
    );
    expect(sampleValue(text, series('nv_inference_count', labels))).toBe(after.inferenceCount);
    expect(sampleValue(text, series('nv_inference_exec_count', labels))).toBe(after.executionCount);
    for (const name of [
      'nv_inference_request_duration_us',
      'nv_inference_queue_duration_us',
      'nv_inference_compute_input_duration_us',
      'nv_inference_compute_infer_duration_us',
      'nv_inference_compute_output_duration_us',
    ]) {
      expect(sampleValue(text, series(name, labels))).toBeGreaterThan(0);
    }
  });

  it('streams answers in order, with a bad request in the middle answered in the stream', async () => {
    const client = new GRPCInferenceServiceClient(`127.0.0.1:${service.port}`, credentials.createInsecure());
    try {
      const call = client.modelStreamInfer();
      const values = floats(16 * 16, 5);
      const requests = [
        { ...tensorRequest('tiny', values, [1, 16, 16, 1], false), id: 'a' },
        { ...tensorRequest('tiny', values, [1, 15, 16, 1], false), id: 'bad' },
        { ...imagesRequest('tiny', [png], true), id: 'c' },
        { ...tensorRequest('nope', values, [1, 16, 16, 1], false), id: 'unknown' },
        { ...tensorRequest('tiny', values, [1, 16, 16, 1], true), id: 'e' },
      ];
      const answers: ModelStreamInferResponse[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (answer: ModelStreamInferResponse) => answers.push(answer));
        call.on('end', () => resolve());
        call.on('error', reject);
      });
      for (const request of requests) call.write(request);
      call.end();
      await done;
      expect(answers.map((a) => a.inferResponse?.id ?? 'error')).toEqual(['a', 'error', 'c', 'error', 'e']);
      expect(answers[1].errorMessage).toContain('inputs[0].shape');
      expect(answers[3].errorMessage).toContain('"nope" not found');
      expect(answers[0].errorMessage).toBe('');
      expect(outputValues(answers[4].inferResponse as ModelInferResponse, 'probabilities')).toEqual(
        outputValues(answers[0].inferResponse as ModelInferResponse, 'probabilities').map((v) =>
          Math.fround(v),
        ),
      );
    } finally {
      client.close();
    }
  });

  it('lists the repository index, and refuses load/unload without explicit model control', async () => {
    const index = await oip.repositoryIndex({ repositoryName: '', ready: false });
    expect(index.models.map((m) => [m.name, m.version, m.state])).toEqual([
      ['det', '1', 'READY'],
      ['pose', '1', 'READY'],
      ['seg', '1', 'READY'],
      ['tiny', '1', 'READY'],
    ]);
    const load = await failure(
      oip.repositoryModelLoad({ repositoryName: '', modelName: 'tiny', parameters: {} }),
    );
    expect(load.code).toBe(status.FAILED_PRECONDITION);
    expect(load.details).toContain('--model-control-mode explicit');
    const other = await failure(oip.repositoryIndex({ repositoryName: 'elsewhere', ready: false }));
    expect(other.code).toBe(status.INVALID_ARGUMENT);
  });

  describe('refuses bad requests with INVALID_ARGUMENT naming the tensor, and leaks nothing', () => {
    const values = floats(16 * 16, 9);
    const good = (): ModelInferRequest => tensorRequest('tiny', values, [1, 16, 16, 1], false);
    const rawGood = (): ModelInferRequest => tensorRequest('tiny', values, [1, 16, 16, 1], true);
    const cases: [string, () => ModelInferRequest, string][] = [
      ['no inputs', () => ({ ...good(), inputs: [] }), 'invalid inputs="0 inputs"'],
      [
        'an unknown input',
        () => ({ ...good(), inputs: [{ ...good().inputs[0], name: 'pixels' }] }),
        'inputs[0].name="pixels"',
      ],
      [
        'both inputs',
        () => ({ ...good(), inputs: [good().inputs[0], imagesRequest('tiny', [png], false).inputs[0]] }),
        'give one input',
      ],
      [
        'a wrong datatype',
        () => ({ ...good(), inputs: [{ ...good().inputs[0], datatype: 'FP16' }] }),
        'inputs[0].datatype="FP16": input input is FP32',
      ],
      [
        'a wrong shape',
        () => tensorRequest('tiny', values, [1, 16, 16, 3], false),
        'inputs[0].shape=[1,16,16,3]',
      ],
      [
        'an empty batch',
        () => tensorRequest('tiny', new Float32Array(0), [0, 16, 16, 1], false),
        'inputs[0].shape',
      ],
      [
        'a batch over the maximum',
        () => tensorRequest('tiny', floats(9 * 256, 1), [9, 16, 16, 1], false),
        'N from 1 to 8',
      ],
      [
        'a huge shape',
        () => ({ ...good(), inputs: [{ ...good().inputs[0], shape: [2 ** 40, 16, 16, 1] }] }),
        'inputs[0].shape',
      ],
      [
        'too few values',
        () => ({
          ...good(),
          inputs: [inputTensor('input', 'FP32', [1, 16, 16, 1], { fp32Contents: [1, 2] })],
        }),
        'fp32_contents="2 values": shape [1, 16, 16, 1] needs 256',
      ],
      [
        'values of another type',
        () =>
          inferRequest({
            modelName: 'tiny',
            inputs: [inputTensor('input', 'FP32', [1, 16, 16, 1], { intContents: [1] })],
          }),
        'inputs[0].contents.int_contents',
      ],
      [
        'a non-finite value',
        () =>
          tensorRequest(
            'tiny',
            Float32Array.from(values, (v, i) => (i === 5 ? NaN : v)),
            [1, 16, 16, 1],
            false,
          ),
        'fp32_contents[5]=NaN: must be finite',
      ],
      [
        'a -Infinity value',
        () =>
          tensorRequest(
            'tiny',
            Float32Array.from(values, (v, i) => (i === 17 ? -Infinity : v)),
            [1, 16, 16, 1],
            false,
          ),
        'invalid inputs[0].contents.fp32_contents[17]=-Infinity: must be finite',
      ],
      [
        'a raw +Infinity value',
        () =>
          tensorRequest(
            'tiny',
            Float32Array.from(values, (v, i) => (i === 250 ? Infinity : v)),
            [1, 16, 16, 1],
            true,
          ),
        'invalid raw_input_contents[0] element 250=Infinity: must be finite',
      ],
      [
        'a raw NaN value',
        () =>
          tensorRequest(
            'tiny',
            Float32Array.from(values, (v, i) => (i === 0 ? NaN : v)),
            [1, 16, 16, 1],
            true,
          ),
        'invalid raw_input_contents[0] element 0=NaN: must be finite',
      ],
      [
        'raw bytes of the wrong size',
        () => ({ ...rawGood(), rawInputContents: [Buffer.alloc(1023)] }),
        'raw_input_contents[0]="1023 bytes": FP32 shape [1, 16, 16, 1] needs 1024 bytes',
      ],
      [
        'raw and typed contents both',
        () => ({ ...rawGood(), inputs: good().inputs }),
        'raw_input_contents is given too',
      ],
      [
        'more raw buffers than inputs',
        () => ({ ...rawGood(), rawInputContents: [rawFloats(values), Buffer.alloc(4)] }),
        'raw_input_contents="2 buffers"',
      ],
      [
        'a BYTES length beyond the buffer',
        () => ({
          ...imagesRequest('tiny', [png], true),
          rawInputContents: [Buffer.concat([Buffer.from([0xff, 0xff, 0, 0]), png])],
        }),
        'element 0 declares 65535 bytes but',
      ],
      [
        'a truncated BYTES length',
        () => ({
          ...imagesRequest('tiny', [png], true),
          rawInputContents: [Buffer.concat([joinBytesElements([png]), Buffer.from([1, 0])])],
        }),
        'too few for its 4-byte little-endian length',
      ],
      [
        'fewer BYTES elements than the shape',
        () => ({
          ...imagesRequest('tiny', [png], true),
          inputs: [{ ...imagesRequest('tiny', [png], true).inputs[0], shape: [2] }],
        }),
        'raw_input_contents[0]="1 elements": shape [2] needs 2',
      ],
      [
        'an image that is not one',
        () => imagesRequest('tiny', [png, Buffer.from('not an image')], false),
        'inputs[0].contents.bytes_contents[1]',
      ],
      [
        'an empty image',
        () => imagesRequest('tiny', [Buffer.alloc(0)], true),
        'raw_input_contents[0] element 0',
      ],
      [
        'an unknown output',
        () => ({ ...good(), outputs: [{ name: 'features', parameters: {} }] }),
        'outputs[0].name="features"',
      ],
      [
        'an output twice',
        () => ({
          ...good(),
          outputs: [
            { name: 'logits', parameters: {} },
            { name: 'logits', parameters: {} },
          ],
        }),
        'outputs[1].name="logits": asked for twice',
      ],
      [
        'a classification k of 0',
        () => ({ ...good(), outputs: [{ name: 'logits', parameters: { classification: int64(0) } }] }),
        'outputs[0].parameters.classification=0',
      ],
      [
        'a classification k as a string',
        () => ({
          ...good(),
          outputs: [
            {
              name: 'logits',
              parameters: { classification: { parameterChoice: { $case: 'stringParam', value: 'three' } } },
            },
          ],
        }),
        'outputs[0].parameters.classification="three"',
      ],
      ['a version that is no number', () => ({ ...good(), modelVersion: 'v1' }), 'model_version="v1"'],
      ['no model name', () => ({ ...good(), modelName: '' }), 'model_name=""'],
    ];
    it.each(cases)('%s', async (_, request, message) => {
      const before = service.engine.lastMemory.numTensors;
      const error = await failure(oip.modelInfer(request()));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toContain(message);
      // The service still answers, and the worker holds no more tensors than before.
      await oip.modelInfer(good());
      expect(service.engine.lastMemory.numTensors).toBe(before);
    });

    it('answers NOT_FOUND for an unknown model or version, RESOURCE_EXHAUSTED for an oversized message', async () => {
      expect((await failure(oip.modelInfer({ ...good(), modelName: 'nope' }))).code).toBe(status.NOT_FOUND);
      const version = await failure(oip.modelInfer({ ...good(), modelVersion: '3' }));
      expect(version.code).toBe(status.NOT_FOUND);
      expect(version.details).toContain('tiny/3');
      const huge = await failure(
        oip.modelInfer({ ...rawGood(), rawInputContents: [Buffer.alloc(MAX_MESSAGE_BYTES + 16)] }),
      );
      expect(huge.code).toBe(status.RESOURCE_EXHAUSTED);
      expect((await oip.modelInfer(good())).outputs).toHaveLength(2);
    });
  });
});

describe('explicit model control', () => {
  let root: string;
  let repo: string;
  let service: InferenceService;
  let oip: Oip;

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(path.join(tmpdir(), 'rnas-oip-explicit-'));
    repo = path.join(root, 'models');
    await publishModel(
      repo,
      'a',
      syntheticArtifact({ seed: 1, inChannels: 1, inputSize: 16, layers: 2, channels: 4 }),
    );
    service = await start(repo, ['--model-control-mode', 'explicit']);
    oip = createClient(GRPCInferenceServiceService, `127.0.0.1:${service.port}`);
  }, 120_000);

  afterAll(async () => {
    oip?.close();
    await service?.close();
    await rm(root, { recursive: true, force: true });
  });

  const states = async (): Promise<string[]> =>
    (await oip.repositoryIndex({ repositoryName: '', ready: false })).models.map(
      (m) => `${m.name}/${m.version}:${m.state}${m.reason ? `(${m.reason})` : ''}`,
    );
  const version = (v: string) => ({
    version: { parameterChoice: { $case: 'stringParam' as const, value: v } },
  });

  it('serves what was there at start, and loads and unloads models and versions on request only', async () => {
    expect(await states()).toEqual(['a/1:READY']);
    // A new model and a new version are not picked up on their own.
    await publishModel(
      repo,
      'b',
      syntheticArtifact({ seed: 2, inChannels: 1, inputSize: 16, layers: 2, channels: 4 }),
    );
    await publishModel(
      repo,
      'a',
      syntheticArtifact({ seed: 3, inChannels: 1, inputSize: 16, layers: 2, channels: 4 }),
    );
    await service.repository.rescan();
    expect(await states()).toEqual(['a/1:READY', 'a/2:UNAVAILABLE(unloaded)', 'b/1:UNAVAILABLE(unloaded)']);
    expect((await oip.modelReady({ name: 'b', version: '' })).ready).toBe(false);

    await oip.repositoryModelLoad({ repositoryName: '', modelName: 'b', parameters: {} });
    expect((await oip.modelReady({ name: 'b', version: '' })).ready).toBe(true);
    await oip.repositoryModelLoad({ repositoryName: '', modelName: 'a', parameters: version('2') });
    expect(await states()).toEqual(['a/1:READY', 'a/2:READY', 'b/1:READY']);
    expect((await oip.modelMetadata({ name: 'a', version: '' })).versions).toEqual(['1', '2']);

    await oip.repositoryModelUnload({ repositoryName: '', modelName: 'a', parameters: version('1') });
    expect(await states()).toEqual(['a/1:UNAVAILABLE(unloaded)', 'a/2:READY', 'b/1:READY']);
    const gone = await failure(
      oip
        .modelInfer(tensorRequest('a', floats(256, 1), [1, 16, 16, 1], true))
        .then(() =>
          oip.modelInfer({ ...tensorRequest('a', floats(256, 1), [1, 16, 16, 1], true), modelVersion: '1' }),
        ),
    );
    expect(gone.code).toBe(status.NOT_FOUND);

    await oip.repositoryModelUnload({ repositoryName: '', modelName: 'b', parameters: {} });
    expect(await states()).toEqual(['a/1:UNAVAILABLE(unloaded)', 'a/2:READY', 'b/1:UNAVAILABLE(unloaded)']);
    expect(
      (await failure(oip.modelInfer(tensorRequest('b', floats(256, 1), [1, 16, 16, 1], true)))).code,
    ).toBe(status.NOT_FOUND);
  });

  it('refuses what cannot be loaded or unloaded, naming it', async () => {
    const missing = await failure(
      oip.repositoryModelLoad({ repositoryName: '', modelName: 'zzz', parameters: {} }),
    );
    expect(missing.code).toBe(status.NOT_FOUND);
    const badVersion = await failure(
      oip.repositoryModelLoad({ repositoryName: '', modelName: 'a', parameters: version('9') }),
    );
    expect(badVersion.code).toBe(status.NOT_FOUND);
    expect(badVersion.details).toContain('a/9');
    const config = await failure(
      oip.repositoryModelLoad({
        repositoryName: '',
        modelName: 'a',
        parameters: { config: { parameterChoice: { $case: 'stringParam', value: '{}' } } },
      }),
    );
    expect(config.code).toBe(status.INVALID_ARGUMENT);
    expect(config.details).toContain('parameters.config');
    const notLoaded = await failure(
      oip.repositoryModelUnload({ repositoryName: '', modelName: 'zzz', parameters: {} }),
    );
    expect(notLoaded.code).toBe(status.NOT_FOUND);
    const word = await failure(
      oip.repositoryModelUnload({ repositoryName: '', modelName: 'a', parameters: version('x') }),
    );
    expect(word.code).toBe(status.INVALID_ARGUMENT);
  });
});
