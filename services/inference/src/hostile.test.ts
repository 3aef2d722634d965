// The hostile-input corpus of the inference service: one service (a classifier, a detector, a
// segmenter and a pose model loaded), started once, and a table of requests no client should send
// on both of its APIs (InferenceService and the Open Inference Protocol): corrupt, truncated,
// empty and huge images made here with sharp, formats it does not take, wrong tensor shapes and
// dtypes, NaN/Inf and extreme finite values, uint32/uint64/int64 edges, names that are paths or
// hold NUL bytes, undecodable and oversized messages. Each row names the status code and what the
// message must say (the field); after each, every health service still reports SERVING and
// nothing was logged as an unexpected error; after all, the worker holds the tensors it held.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import sharp from 'sharp';
import { initBackend } from '@rnas/engine';
import { checkHealth, createLogger, hostileFailure, wire, type HostileCase } from '@rnas/grpc';
import { publishModel, syntheticArtifact } from '@rnas/model';
import {
  ClassifyRequest,
  DetectRequest,
  EstimatePoseRequest,
  GRPCInferenceServiceService,
  InferenceServiceService,
  LabelMapEncoding,
  ModelInferRequest,
  SegmentRequest,
  type InferTensorContents,
} from '@rnas/proto';
import { loadInferenceConfig } from './config';
import { startInferenceService, type InferenceService } from './service';

const ROOT = path.resolve(__dirname, '../../..');
const MAX_BATCH = 8;
const MAX_MESSAGE_BYTES = 1024 * 1024;

let root: string;
let service: InferenceService;
let address: string;
const logged: Record<string, unknown>[] = [];

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

/** A valid PNG header announcing width x height, then a few bytes of data (a decompression bomb's shape). */
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

/** A real JPEG whose frame header (SOF0) claims width x height. */
function jpegClaiming(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9; i++) {
    if (out[i] === 0xff && out[i + 1] === 0xc0) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
  }
  throw new Error('no SOF0 marker');
}

const images: Record<string, Buffer> = {};

beforeAll(async () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'services/inference'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  await initBackend();
  root = await mkdtemp(path.join(tmpdir(), 'rnas-inference-hostile-'));
  const repo = path.join(root, 'models');
  await publishModel(
    repo,
    'tiny',
    syntheticArtifact({ seed: 1, inChannels: 1, inputSize: 16, layers: 3, channels: 4 }),
  );
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
  images.png = await noiseImage(40, 32, 1).png().toBuffer();
  images.jpeg = await noiseImage(16, 16, 2).jpeg().toBuffer();
  images.webp = await noiseImage(23, 57, 3).webp().toBuffer();
  images.gif = await noiseImage(8, 8, 4).gif().toBuffer();
  images.tiff = await noiseImage(8, 8, 5).tiff().toBuffer();
  const destination = new Writable({
    write(data: Buffer, _encoding, done) {
      for (const line of data.toString().split('\n'))
        if (line) logged.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = loadInferenceConfig(
    [
      ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'],
      ...['--model-repo', repo, '--repo-poll-ms', '60000'],
      ...['--max-batch-size', String(MAX_BATCH), '--max-message-bytes', String(MAX_MESSAGE_BYTES)],
    ],
    {},
  );
  service = await startInferenceService(config, {
    logger: createLogger({ service: 'inference', level: 'info', destination }),
    shutdownSignals: [],
  });
  await service.ready;
  address = `127.0.0.1:${service.port}`;
}, 600_000);

afterAll(async () => {
  await service?.close();
  await rm(root, { recursive: true, force: true });
});

type Classic = HostileCase<typeof InferenceServiceService>;
type Oip = HostileCase<typeof GRPCInferenceServiceService>;
type Row = { api: 'classic'; row: Classic } | { api: 'oip'; row: Oip };

const UINT32_MAX = 4294967295;

/** Classify with encoded images. */
function classifyImages(
  name: string,
  list: () => Buffer[],
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Row {
  return {
    api: 'classic',
    row: {
      name: `Classify: ${name}`,
      method: 'classify',
      request: () =>
        ClassifyRequest.fromPartial({
          modelName: 'tiny',
          input: { $case: 'images', value: { images: list() } },
        }),
      code,
      message,
    },
  };
}

/** Classify with a tensor for the 16x16x1 model. */
function classifyTensor(
  name: string,
  shape: number[],
  values: () => number[],
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Row {
  return {
    api: 'classic',
    row: {
      name: `Classify: ${name}`,
      method: 'classify',
      request: () =>
        ClassifyRequest.fromPartial({
          modelName: 'tiny',
          input: { $case: 'tensor', value: { shape, values: values() } },
        }),
      code,
      message,
    },
  };
}

function classify(
  name: string,
  request: () => Partial<ClassifyRequest>,
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Row {
  return {
    api: 'classic',
    row: {
      name: `Classify: ${name}`,
      method: 'classify',
      request: () =>
        ClassifyRequest.fromPartial({
          modelName: 'tiny',
          input: { $case: 'images', value: { images: [images.png] } },
          ...request(),
        }),
      code,
      message,
    },
  };
}

function detect(
  name: string,
  request: () => Partial<DetectRequest>,
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Row {
  return {
    api: 'classic',
    row: {
      name: `Detect: ${name}`,
      method: 'detect',
      request: () =>
        DetectRequest.fromPartial({
          modelName: 'det',
          input: { $case: 'images', value: { images: [images.png] } },
          ...request(),
        }),
      code,
      message,
    },
  };
}

function segment(
  name: string,
  request: () => Partial<SegmentRequest>,
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Row {
  return {
    api: 'classic',
    row: {
      name: `Segment: ${name}`,
      method: 'segment',
      request: () =>
        SegmentRequest.fromPartial({
          modelName: 'seg',
          input: { $case: 'images', value: { images: [images.png] } },
          ...request(),
        }),
      code,
      message,
    },
  };
}

function pose(
  name: string,
  request: () => Partial<EstimatePoseRequest>,
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Row {
  return {
    api: 'classic',
    row: {
      name: `EstimatePose: ${name}`,
      method: 'estimatePose',
      request: () =>
        EstimatePoseRequest.fromPartial({
          modelName: 'pose',
          images: { images: [images.png] },
          ...request(),
        }),
      code,
      message,
    },
  };
}

const box = (xMin: number, yMin: number, xMax: number, yMax: number) => ({
  boxes: [{ xMin, yMin, xMax, yMax }],
});

/** ModelInfer of a 16x16x1 tensor for tiny, with `input` changes. */
function infer(
  name: string,
  change: (request: ModelInferRequest) => ModelInferRequest,
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Row {
  return {
    api: 'oip',
    row: {
      name: `ModelInfer: ${name}`,
      method: 'modelInfer',
      request: () =>
        change(
          ModelInferRequest.fromPartial({
            modelName: 'tiny',
            inputs: [
              {
                name: 'input',
                datatype: 'FP32',
                shape: [1, 16, 16, 1],
                contents: { fp32Contents: new Array<number>(256).fill(0.25) } as Partial<InferTensorContents>,
              },
            ],
          }),
        ),
      code,
      message,
    },
  };
}

const withInput = (
  r: ModelInferRequest,
  fields: Partial<ModelInferRequest['inputs'][0]>,
): ModelInferRequest => ({
  ...r,
  inputs: [{ ...r.inputs[0], ...fields }],
});

const corpus: Row[] = [
  // Images: empty, corrupt, truncated, huge, other formats.
  classifyImages(
    'an empty image',
    () => [Buffer.alloc(0)],
    /^invalid images\.images\[0\]=<0 bytes>: empty image$/,
  ),
  classifyImages(
    'an empty image after a good one',
    () => [images.png, Buffer.alloc(0)],
    /^invalid images\.images\[1\]=<0 bytes>: empty image$/,
  ),
  classifyImages('text', () => [Buffer.from('hello, world')], /^invalid images\.images\[0\]=<12 bytes>: /),
  classifyImages(
    'a PNG signature alone',
    () => [images.png.subarray(0, 8)],
    /^invalid images\.images\[0\]=<8 bytes>: .*not a decodable/,
  ),
  classifyImages(
    'a truncated PNG',
    () => [images.png.subarray(0, images.png.length >> 1)],
    /^invalid images\.images\[0\]=<\d+ bytes>: .*not a decodable/,
  ),
  classifyImages(
    'a truncated JPEG',
    () => [images.jpeg.subarray(0, images.jpeg.length >> 1)],
    /^invalid images\.images\[0\]=<\d+ bytes>: .*not a decodable/,
  ),
  classifyImages(
    'a JPEG start marker alone',
    () => [Buffer.from([0xff, 0xd8, 0xff])],
    /^invalid images\.images\[0\]=<3 bytes>: /,
  ),
  classifyImages(
    'a truncated WebP',
    () => [images.webp.subarray(0, 30)],
    /^invalid images\.images\[0\]=<30 bytes>: /,
  ),
  classifyImages(
    'a corrupt JPEG body',
    () => [Buffer.concat([images.jpeg.subarray(0, 3), Buffer.alloc(500, 9)])],
    /^invalid images\.images\[0\]=<503 bytes>: not a decodable/,
  ),
  classifyImages(
    'a PNG claiming 100000x100000',
    () => [pngHeader(100_000, 100_000)],
    /^invalid images\.images\[0\]=<\d+ bytes>: 100000x100000 pixels is more than the limit/,
  ),
  classifyImages(
    'a PNG claiming 2^31-1 x 1',
    () => [pngHeader(2 ** 31 - 1, 1)],
    /^invalid images\.images\[0\]=<\d+ bytes>: /,
  ),
  classifyImages('a PNG claiming 0x0', () => [pngHeader(0, 0)], /^invalid images\.images\[0\]=<\d+ bytes>: /),
  classifyImages(
    'a JPEG claiming 65500x65500',
    () => [jpegClaiming(images.jpeg, 65_500, 65_500)],
    /^invalid images\.images\[0\]=<\d+ bytes>: 65500x65500 pixels is more than the limit/,
  ),
  classifyImages(
    'a GIF',
    () => [images.gif],
    /^invalid images\.images\[0\]=<\d+ bytes>: format gif is not accepted/,
  ),
  classifyImages(
    'a TIFF',
    () => [images.tiff],
    /^invalid images\.images\[0\]=<\d+ bytes>: format tiff is not accepted/,
  ),
  classifyImages(
    'an SVG of 100000x100000',
    () => [
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="100%" height="100%"/></svg>',
      ),
    ],
    /^invalid images\.images\[0\]=<\d+ bytes>: /,
  ),
  classifyImages('no images', () => [], /^invalid images\.images="0 images": expected at least one image$/),
  classifyImages(
    'one image too many',
    () => new Array<Buffer>(MAX_BATCH + 1).fill(images.png),
    /^invalid images\.images="9 images": at most 8/,
  ),
  // Tensors: shapes, lengths, NaN/Inf, extremes.
  classifyTensor('an empty shape', [], () => [], /^invalid tensor\.shape=\[\]: /),
  classifyTensor(
    'a 3-d shape',
    [1, 16, 16],
    () => new Array<number>(256).fill(0),
    /^invalid tensor\.shape=\[1,16,16\]: /,
  ),
  classifyTensor(
    'a 5-d shape',
    [1, 16, 16, 1, 1],
    () => new Array<number>(256).fill(0),
    /^invalid tensor\.shape=\[1,16,16,1,1\]: /,
  ),
  classifyTensor(
    '3 channels for a grey model',
    [1, 16, 16, 3],
    () => new Array<number>(768).fill(0),
    /^invalid tensor\.shape=\[1,16,16,3\]: expected \[N, 16, 16, 1\]/,
  ),
  classifyTensor('a batch of 0', [0, 16, 16, 1], () => [], /^invalid tensor\.shape=\[0,16,16,1\]: /),
  classifyTensor(
    'a batch of 2^32-1',
    [UINT32_MAX, 16, 16, 1],
    () => [0],
    /^invalid tensor\.shape=\[4294967295,16,16,1\]: /,
  ),
  classifyTensor(
    'a side of 2^32-1',
    [1, UINT32_MAX, 16, 1],
    () => [0],
    /^invalid tensor\.shape=\[1,4294967295,16,1\]: /,
  ),
  classifyTensor(
    'too few values',
    [1, 16, 16, 1],
    () => [1, 2, 3],
    /^invalid tensor\.values="3 values": shape \[1, 16, 16, 1\] needs 256 values$/,
  ),
  classifyTensor(
    'too many values',
    [1, 16, 16, 1],
    () => new Array<number>(257).fill(0),
    /^invalid tensor\.values="257 values": /,
  ),
  classifyTensor(
    'a NaN',
    [1, 16, 16, 1],
    () => Array.from({ length: 256 }, (_, i) => (i === 9 ? NaN : 0)),
    /^invalid tensor\.values\[9\]=NaN: must be finite$/,
  ),
  classifyTensor(
    '+Infinity',
    [1, 16, 16, 1],
    () => Array.from({ length: 256 }, (_, i) => (i === 255 ? Infinity : 0)),
    /^invalid tensor\.values\[255\]=Infinity: must be finite$/,
  ),
  classifyTensor(
    '-Infinity',
    [1, 16, 16, 1],
    () => Array.from({ length: 256 }, (_, i) => (i === 0 ? -Infinity : 0)),
    /^invalid tensor\.values\[0\]=-Infinity: must be finite$/,
  ),
  classifyTensor(
    '3e38 everywhere',
    [1, 16, 16, 1],
    () => new Array<number>(256).fill(3e38),
    /^invalid tensor\.values="image 0": the input produced non-finite outputs/,
  ),
  classifyTensor(
    '-3.4e38 everywhere',
    [1, 16, 16, 1],
    () => new Array<number>(256).fill(-3.4e38),
    /^invalid tensor\.values="image 0": the input produced non-finite outputs/,
  ),
  // Names, versions, top_k.
  classify('no model name', () => ({ modelName: '' }), /^invalid model_name="": required$/),
  classify(
    'a model name that is a path',
    () => ({ modelName: '../tiny' }),
    /^model "\.\.\/tiny" not found$/,
    status.NOT_FOUND,
  ),
  classify(
    'a model name with a version',
    () => ({ modelName: 'tiny/1' }),
    /^model "tiny\/1" not found$/,
    status.NOT_FOUND,
  ),
  classify(
    'a model name with a NUL byte',
    () => ({ modelName: 'tiny\0' }),
    /^model "tiny\\u0000" not found$/,
    status.NOT_FOUND,
  ),
  classify(
    'a 100000-character model name',
    () => ({ modelName: 'm'.repeat(100_000) }),
    /^model "m+"…\(100000 chars\) not found$/,
    status.NOT_FOUND,
  ),
  classify('version 0', () => ({ version: 0 }), /^invalid version=0/),
  classify(
    'version 2^32-1',
    () => ({ version: UINT32_MAX }),
    /^model version "tiny\/4294967295" not found$/,
    status.NOT_FOUND,
  ),
  classify('top_k 2^32-1', () => ({ topK: UINT32_MAX }), /^invalid top_k=4294967295: /),
  classify('no input', () => ({ input: undefined }), /^invalid input=undefined: /),
  // Detect.
  detect(
    'a NaN score threshold',
    () => ({ scoreThreshold: Number.NaN }),
    /^invalid score_threshold=NaN: expected a number in \[0, 1\]$/,
  ),
  detect('a negative score threshold', () => ({ scoreThreshold: -0.5 }), /^invalid score_threshold=-0\.5: /),
  detect(
    'an infinite score threshold',
    () => ({ scoreThreshold: Infinity }),
    /^invalid score_threshold=Infinity: /,
  ),
  detect('max_detections 0', () => ({ maxDetections: 0 }), /^invalid max_detections=0: /),
  detect(
    'max_detections 2^32-1',
    () => ({ maxDetections: UINT32_MAX }),
    /^invalid max_detections=4294967295: /,
  ),
  detect(
    'an unknown class label',
    () => ({ classes: ['unicorn'] }),
    /^invalid classes\[0\]="unicorn": expected one of the model's labels/,
  ),
  detect(
    'a class label with a NUL byte',
    () => ({ classes: ['class-0\0'] }),
    /^invalid classes\[0\]="class-0\\u0000": /,
  ),
  detect(
    'an empty image',
    () => ({ input: { $case: 'images', value: { images: [Buffer.alloc(0)] } } }),
    /images\.images\[0\]=<0 bytes>: empty image/,
  ),
  detect(
    'a PNG claiming 100000x100000',
    () => ({ input: { $case: 'images', value: { images: [pngHeader(100_000, 100_000)] } } }),
    /images\.images\[0\]=<\d+ bytes>: 100000x100000 pixels/,
  ),
  detect(
    'a tensor of the wrong size',
    () => ({
      input: { $case: 'tensor', value: { shape: [1, 16, 16, 3], values: new Array<number>(768).fill(0) } },
    }),
    /^invalid tensor\.shape=\[1,16,16,3\]: /,
  ),
  detect(
    'a classifier',
    () => ({ modelName: 'tiny' }),
    /^model tiny version 1 is a classification model: call Classify$/,
    status.FAILED_PRECONDITION,
  ),
  // Segment.
  segment('an unknown encoding', () => ({ encoding: 99 as LabelMapEncoding }), /^invalid encoding=99/),
  segment(
    'a truncated PNG',
    () => ({ input: { $case: 'images', value: { images: [images.png.subarray(0, 100)] } } }),
    /images\.images\[0\]=<100 bytes>: /,
  ),
  segment(
    'a NaN in a tensor',
    () => ({
      input: {
        $case: 'tensor',
        value: {
          shape: [1, 64, 64, 3],
          values: Array.from({ length: 64 * 64 * 3 }, (_, i) => (i === 7 ? NaN : 0)),
        },
      },
    }),
    /tensor\.values\[7\]=NaN: must be finite/,
  ),
  segment(
    'a detector',
    () => ({ modelName: 'det' }),
    /^model det version 1 is a detection model: call Detect$/,
    status.FAILED_PRECONDITION,
  ),
  // EstimatePose.
  pose(
    'more box lists than images',
    () => ({ boxes: [box(0, 0, 4, 4), box(0, 0, 4, 4)] }),
    /^invalid boxes=/,
  ),
  pose(
    'a NaN box',
    () => ({ boxes: [box(NaN, 0, 4, 4)] }),
    /^invalid boxes\[0\]\.boxes\[0\]=.*expected finite coordinates/,
  ),
  pose(
    'an infinite box',
    () => ({ boxes: [box(0, 0, Infinity, 4)] }),
    /^invalid boxes\[0\]\.boxes\[0\]=.*expected finite coordinates/,
  ),
  pose('an inverted box', () => ({ boxes: [box(10, 10, 2, 2)] }), /^invalid boxes\[0\]\.boxes\[0\]=/),
  pose('a box of 3e38', () => ({ boxes: [box(0, 0, 3e38, 3e38)] }), /^invalid boxes\[0\]\.boxes\[0\]=/),
  pose('no images', () => ({ images: { images: [] } }), /images/),
  pose(
    'a corrupt image',
    () => ({ images: { images: [Buffer.from('\x89PNG\r\n\x1a\nIHDR')] } }),
    /images\.images\[0\]=<\d+ bytes>: /,
  ),
  // GetModel.
  {
    api: 'classic',
    row: {
      name: 'GetModel: no name',
      method: 'getModel',
      request: () => ({ modelName: '' }),
      code: status.INVALID_ARGUMENT,
      message: /model_name/,
    },
  },
  {
    api: 'classic',
    row: {
      name: 'GetModel: a path',
      method: 'getModel',
      request: () => ({ modelName: '../../etc/passwd' }),
      code: status.NOT_FOUND,
      message: /^model "\.\.\/\.\.\/etc\/passwd" not found$/,
    },
  },
  // Open Inference Protocol: datatypes, shapes, contents.
  infer(
    'datatype FP64',
    (r) => withInput(r, { datatype: 'FP64' }),
    /^invalid inputs\[0\]\.datatype="FP64": input input is FP32/,
  ),
  infer(
    'datatype INT8',
    (r) => withInput(r, { datatype: 'INT8' }),
    /^invalid inputs\[0\]\.datatype="INT8": /,
  ),
  infer(
    'datatype BYTES for the tensor',
    (r) => withInput(r, { datatype: 'BYTES' }),
    /^invalid inputs\[0\]\.datatype="BYTES": /,
  ),
  infer('an empty datatype', (r) => withInput(r, { datatype: '' }), /^invalid inputs\[0\]\.datatype="": /),
  infer(
    'a lower-case datatype',
    (r) => withInput(r, { datatype: 'fp32' }),
    /^invalid inputs\[0\]\.datatype="fp32": /,
  ),
  infer(
    'a shape of -1',
    (r) => withInput(r, { shape: [-1, 16, 16, 1] }),
    /^invalid inputs\[0\]\.shape=\[-1,16,16,1\]/,
  ),
  infer(
    'a shape of 2^53',
    (r) => withInput(r, { shape: [2 ** 53, 16, 16, 1] }),
    /^invalid request=<\d+ bytes>: not a valid \/inference\.GRPCInferenceService\/ModelInfer request: Value is larger than Number\.MAX_SAFE_INTEGER$/,
  ),
  infer('a 2-d shape', (r) => withInput(r, { shape: [1, 256] }), /^invalid inputs\[0\]\.shape=\[1,256\]/),
  infer(
    'NaN contents',
    (r) =>
      withInput(r, {
        contents: { ...r.inputs[0].contents!, fp32Contents: new Array<number>(256).fill(NaN) },
      }),
    /fp32_contents\[0\]=NaN: must be finite/,
  ),
  infer(
    'raw bytes of the wrong size',
    (r) => ({ ...withInput(r, { contents: undefined }), rawInputContents: [Buffer.alloc(1021)] }),
    /raw_input_contents\[0\]="1021 bytes"/,
  ),
  infer(
    'raw Infinity',
    (r) => {
      const raw = Buffer.alloc(1024);
      raw.writeFloatLE(Infinity, 40);
      return { ...withInput(r, { contents: undefined }), rawInputContents: [raw] };
    },
    /raw_input_contents\[0\] element 10=Infinity: must be finite/,
  ),
  infer(
    'a version past uint64',
    (r) => ({ ...r, modelVersion: '18446744073709551616' }),
    /model_version="18446744073709551616"/,
  ),
  infer('a negative version other than -1', (r) => ({ ...r, modelVersion: '-2' }), /model_version="-2"/),
  infer(
    'an unknown model with a NUL byte',
    (r) => ({ ...r, modelName: 'tiny\0' }),
    /"tiny\\u0000" not found/,
    status.NOT_FOUND,
  ),
  {
    api: 'oip',
    row: {
      name: 'ModelReady: version 1e3',
      method: 'modelReady',
      request: () => ({ name: 'tiny', version: '1e3' }),
      code: status.INVALID_ARGUMENT,
      message: /version="1e3"/,
    },
  },
  {
    api: 'oip',
    row: {
      name: 'ModelReady: version 2^64-1',
      method: 'modelReady',
      request: () => ({ name: 'tiny', version: '18446744073709551615' }),
      code: status.INVALID_ARGUMENT,
      message: /version="18446744073709551615"/,
    },
  },
  {
    api: 'oip',
    row: {
      name: 'ModelMetadata: an unknown model',
      method: 'modelMetadata',
      request: () => ({ name: '../tiny', version: '' }),
      code: status.NOT_FOUND,
      message: /"\.\.\/tiny" not found/,
    },
  },
  // Bytes no generated client sends.
  {
    api: 'classic',
    row: {
      name: 'Classify: bytes that are no protobuf',
      method: 'classify',
      raw: () => Buffer.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      code: status.INVALID_ARGUMENT,
      message: /^invalid request=<6 bytes>: not a valid .*Classify request/,
    },
  },
  {
    api: 'classic',
    row: {
      name: 'Classify: packed floats cut short',
      method: 'classify',
      raw: () =>
        Buffer.concat([
          wire.bytes(1, 'tiny'),
          wire.bytes(
            4,
            Buffer.concat([
              wire.bytes(1, wire.varint(1)),
              wire.varint((2 << 3) | 2),
              wire.varint(1024),
              Buffer.alloc(6),
            ]),
          ),
        ]),
      code: status.INVALID_ARGUMENT,
      message: /^invalid request=<\d+ bytes>: not a valid .*Classify request/,
    },
  },
  {
    api: 'classic',
    row: {
      name: 'Classify: version 2^64-1 on the wire',
      method: 'classify',
      raw: () =>
        Buffer.concat([
          wire.bytes(1, 'tiny'),
          wire.uint(2, 2n ** 64n - 1n),
          wire.bytes(3, wire.bytes(1, Buffer.alloc(0))),
        ]),
      code: status.NOT_FOUND,
      message: /^model version "tiny\/4294967295" not found$/,
    },
  },
  {
    api: 'classic',
    row: {
      name: 'Classify: an oversized message',
      method: 'classify',
      raw: () => wire.bytes(3, wire.bytes(1, Buffer.alloc(MAX_MESSAGE_BYTES + 16, 7))),
      code: status.RESOURCE_EXHAUSTED,
      message: /^Received message larger than max \(\d+ vs 1048576\)$/,
    },
  },
  {
    api: 'classic',
    row: {
      name: 'Detect: a score threshold as NaN bits on the wire',
      method: 'detect',
      raw: () =>
        Buffer.concat([
          wire.bytes(1, 'det'),
          wire.bytes(3, wire.bytes(1, Buffer.from('x'))),
          Buffer.from([(5 << 3) | 5, 0x00, 0x00, 0xc0, 0x7f]),
        ]),
      code: status.INVALID_ARGUMENT,
      message: /^invalid score_threshold=NaN/,
    },
  },
  {
    api: 'oip',
    row: {
      name: 'ModelInfer: garbage bytes',
      method: 'modelInfer',
      raw: () => Buffer.from('\xff\xff\xff\xff', 'latin1'),
      code: status.INVALID_ARGUMENT,
      message: /^invalid request=<4 bytes>: not a valid .*ModelInfer request/,
    },
  },
  {
    api: 'oip',
    row: {
      name: 'ModelInfer: an oversized message',
      method: 'modelInfer',
      raw: () => wire.bytes(7, Buffer.alloc(MAX_MESSAGE_BYTES + 16)),
      code: status.RESOURCE_EXHAUSTED,
      message: /^Received message larger than max/,
    },
  },
];

describe('the inference service under hostile input', () => {
  let tensorsBefore: number;

  beforeAll(() => {
    tensorsBefore = service.engine.lastMemory.numTensors;
  });

  it.each(corpus.map((c) => [c.row.name, c] as const))('%s', async (_name, c) => {
    const lines = logged.length;
    const error =
      c.api === 'classic'
        ? await hostileFailure(InferenceServiceService, address, c.row)
        : await hostileFailure(GRPCInferenceServiceService, address, c.row);
    expect({ code: status[error.code], details: error.details }).toEqual({
      code: status[c.row.code],
      details: expect.stringMatching(c.row.message),
    });
    expect(error.details).not.toContain(root);
    for (const name of ['relativenas.v1.InferenceService', 'inference.GRPCInferenceService', ''])
      expect(await checkHealth(address, name)).toBe('SERVING');
    expect(
      logged.slice(lines).filter((l) => l.msg === 'unexpected error in a handler' || l.level === 'fatal'),
    ).toEqual([]);
  });

  it('still classifies after the whole corpus, and holds no more tensors than before it', async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
    const client = (await import('@rnas/grpc')).createClient(InferenceServiceService, address);
    try {
      const response = await client.classify(
        ClassifyRequest.fromPartial({
          modelName: 'tiny',
          input: { $case: 'images', value: { images: [images.jpeg] } },
        }),
      );
      expect(response.classifications).toHaveLength(1);
    } finally {
      client.close();
    }
    expect((await service.engine.readMemory()).numTensors).toBe(tensorsBefore);
  });
});
