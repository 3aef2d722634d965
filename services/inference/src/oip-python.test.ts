import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { initBackend } from '@rnas/engine';
import { createClient, createLogger, type PromiseClient } from '@rnas/grpc';
import { ClassifyRequest, InferenceServiceService, type Tensor } from '@rnas/proto';
import { publishModel, syntheticArtifact } from '@rnas/model';
import { loadInferenceConfig } from './config';
import { startInferenceService, type InferenceService } from './service';

// A second, independent client of the Open Inference Protocol: Python's grpcio with stubs that
// Debian's grpc_tools generates here, once from our proto/inference files and once from KServe's
// own (test/upstream/), so that a client built from the upstream file is proven to work against us.
// Its answers must be Classify's, which the service's other tests tie to an in-process forward.

const ROOT = path.resolve(__dirname, '../../..');
const PYTHON = '/usr/bin/python3';
const CLIENT = path.join(ROOT, 'services/inference/test/oip_client.py');
const UPSTREAM = 'services/inference/test/upstream';
const execFileAsync = promisify(execFile);
// The stubs' directory is a temporary one, and the script is run as a file: keep both free of
// __pycache__.
const PYTHON_ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

const HEIGHT = 12;
const WIDTH = 16;
const CHANNELS = 3;
const CLASSES = 5;
const TOLERANCE = 1e-6;

beforeAll(() => {
  // The service runs its forward passes in a worker thread from the compiled dist/ (as in
  // production); `tsc -b` is incremental, so this costs a second or two when nothing changed.
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'services/inference'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}, 600_000);

/** Fails (never skips) when the Python side is missing: the suite is meant to run it everywhere. */
function requirePythonGrpc(): void {
  try {
    execFileSync(PYTHON, ['-c', 'import grpc, grpc_tools'], { stdio: 'pipe' });
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || String(error);
    throw new Error(
      `${PYTHON} with grpc and grpc_tools is needed for the Python Open Inference Protocol client: ` +
        `install the Debian packages python3-grpcio and python3-grpc-tools ` +
        `(apt-get install python3-grpcio python3-grpc-tools); ${detail}`,
    );
  }
}

interface StubSet {
  name: string;
  module: string;
  protocArgs: string[];
}

const STUB_SETS: StubSet[] = [
  {
    name: 'proto/inference',
    module: 'inference.grpc_service_pb2',
    protocArgs: ['-I', 'proto', 'proto/inference/grpc_service.proto', 'proto/inference/model_config.proto'],
  },
  {
    name: 'upstream KServe open_inference_grpc.proto',
    module: 'open_inference_grpc_pb2',
    protocArgs: ['-I', UPSTREAM, `${UPSTREAM}/open_inference_grpc.proto`],
  },
];

async function generateStubs(set: StubSet, out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  await execFileAsync(
    PYTHON,
    ['-m', 'grpc_tools.protoc', ...set.protocArgs, `--python_out=${out}`, `--grpc_python_out=${out}`],
    { cwd: ROOT, env: PYTHON_ENV },
  );
}

interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

interface InferSummary {
  id: string;
  model_name: string;
  model_version: string;
  outputs: (TensorMetadata & { data?: 'raw' | 'contents' })[];
  probabilities: number[][] | null;
}

type InferKey = 'images_raw' | 'images_contents' | 'tensor_raw' | 'tensor_contents';

interface ClientReport {
  server_live: boolean;
  server_ready: boolean;
  model_ready: boolean;
  metadata: {
    name: string;
    versions: string[];
    platform: string;
    inputs: TensorMetadata[];
    outputs: TensorMetadata[];
  };
  tensor_shape: number[];
  infer: Record<InferKey, InferSummary>;
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

/** Scores by class index for every image of a Classify response (top_k = every class). */
function scoresByClass(classifications: { scores: { classIndex: number; score: number }[] }[]): number[][] {
  return classifications.map((c) => {
    const row = new Array<number>(CLASSES).fill(NaN);
    for (const s of c.scores) row[s.classIndex] = s.score;
    return row;
  });
}

function expectClose(actual: number[][] | null, expected: number[][], what: string): void {
  expect(actual).not.toBeNull();
  expect(actual?.map((row) => row.length)).toEqual(expected.map((row) => row.length));
  expected.forEach((row, i) =>
    row.forEach((score, c) => {
      const got = actual?.[i][c] ?? NaN;
      if (!(Math.abs(got - score) <= TOLERANCE))
        throw new Error(`${what}: probabilities[${i}][${c}] = ${got}, Classify says ${score}`);
    }),
  );
}

describe('the Open Inference Protocol from a Python grpcio client', () => {
  let root: string;
  let service: InferenceService;
  let classifier: PromiseClient<typeof InferenceServiceService>;
  let imageFiles: string[];
  let tensorFile: string;
  let fromImages: number[][];
  let fromTensor: number[][];

  beforeAll(async () => {
    requirePythonGrpc();
    await initBackend();
    // RGB and not square: a client or server that mixes up NHWC's axes gets other numbers.
    const artifact = syntheticArtifact({
      seed: 3,
      inChannels: CHANNELS,
      inputHeight: HEIGHT,
      inputWidth: WIDTH,
      layers: 2,
      channels: 4,
      classes: CLASSES,
    });
    root = await mkdtemp(path.join(tmpdir(), 'rnas-oip-python-'));
    const repo = path.join(root, 'models');
    await publishModel(repo, 'rgb', artifact);

    const images = [
      await noiseImage(40, 32, 1).png().toBuffer(),
      await noiseImage(16, 16, 2).jpeg().toBuffer(),
      await noiseImage(23, 57, 3).webp().toBuffer(),
    ];
    imageFiles = ['a.png', 'b.jpg', 'c.webp'].map((name) => path.join(root, name));
    await Promise.all(images.map((bytes, i) => writeFile(imageFiles[i], bytes)));
    const values = Float32Array.from({ length: 2 * HEIGHT * WIDTH * CHANNELS }, (_, i) => Math.sin(i));
    const raw = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
    tensorFile = path.join(root, 'tensor.f32');
    await writeFile(tensorFile, raw);

    await Promise.all(STUB_SETS.map((set, i) => generateStubs(set, path.join(root, `stubs-${i}`))));

    const config = loadInferenceConfig(
      [
        ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'],
        ...['--model-repo', repo, '--repo-poll-ms', '60000'],
      ],
      {},
    );
    service = await startInferenceService(config, {
      logger: createLogger({ service: 'inference', level: 'silent' }),
      shutdownSignals: [],
    });
    await service.ready;
    classifier = createClient(InferenceServiceService, `127.0.0.1:${service.port}`);

    const classify = async (input: ClassifyRequest['input']) =>
      scoresByClass(
        (await classifier.classify(ClassifyRequest.fromPartial({ modelName: 'rgb', topK: CLASSES, input })))
          .classifications,
      );
    fromImages = await classify({ $case: 'images', value: { images } });
    const tensor: Tensor = { shape: [2, HEIGHT, WIDTH, CHANNELS], values: Array.from(values) };
    fromTensor = await classify({ $case: 'tensor', value: tensor });
  }, 120_000);

  afterAll(async () => {
    classifier?.close();
    await service?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it.each(STUB_SETS.map((set, i) => [set.name, i] as const))(
    'with stubs generated from %s: ready, metadata and ModelInfer equal to Classify',
    async (_name, i) => {
      const { stdout } = await execFileAsync(
        PYTHON,
        [
          CLIENT,
          ...['--address', `127.0.0.1:${service.port}`, '--model', 'rgb'],
          ...['--stubs', path.join(root, `stubs-${i}`), '--module', STUB_SETS[i].module],
          ...['--tensor', tensorFile],
          ...imageFiles,
        ],
        { cwd: ROOT, env: PYTHON_ENV, timeout: 100_000 },
      );
      const report = JSON.parse(stdout) as ClientReport;

      expect([report.server_live, report.server_ready, report.model_ready]).toEqual([true, true, true]);
      const { metadata } = report;
      expect([metadata.name, metadata.versions, metadata.platform]).toEqual([
        'rgb',
        ['1'],
        'relativenas_tfjs',
      ]);
      const byName = (list: TensorMetadata[]) => [...list].sort((a, b) => a.name.localeCompare(b.name));
      expect(metadata.inputs).toHaveLength(2);
      const [images, input] = byName(metadata.inputs);
      expect(input).toEqual({ name: 'input', datatype: 'FP32', shape: [-1, HEIGHT, WIDTH, CHANNELS] });
      expect([images.name, images.datatype]).toEqual(['images', 'BYTES']);
      expect([[-1], [-1, 1]]).toContainEqual(images.shape);
      expect(byName(metadata.outputs)).toEqual([
        { name: 'logits', datatype: 'FP32', shape: [-1, CLASSES] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, CLASSES] },
      ]);
      expect(report.tensor_shape).toEqual([2, HEIGHT, WIDTH, CHANNELS]);

      const cases: [InferKey, number[][], 'raw' | 'contents'][] = [
        ['images_raw', fromImages, 'raw'],
        ['images_contents', fromImages, 'contents'],
        ['tensor_raw', fromTensor, 'raw'],
        ['tensor_contents', fromTensor, 'contents'],
      ];
      for (const [key, expected, data] of cases) {
        const infer = report.infer[key];
        expect([key, infer.id, infer.model_name, infer.model_version]).toEqual([
          key,
          `python-${key}`,
          'rgb',
          '1',
        ]);
        // No outputs requested: every output comes back, in the encoding the inputs used.
        expect(byName(infer.outputs)).toEqual(
          ['logits', 'probabilities'].map((name) => ({
            name,
            datatype: 'FP32',
            shape: [expected.length, CLASSES],
            data,
          })),
        );
        expectClose(infer.probabilities, expected, `${STUB_SETS[i].name}, ${key}`);
      }
    },
    120_000,
  );
});
