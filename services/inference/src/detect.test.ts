// Detect over gRPC on a detector published to the repository: boxes in each image's own pixels,
// the request's filters, the task check both ways, bad input refused naming the field, and the
// compute worker's tensors back where they were after many calls.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import sharp from 'sharp';
import { initBackend } from '@rnas/engine';
import { callFailure as failure, createClient, createLogger, type PromiseClient } from '@rnas/grpc';
import { DetectRequest, InferenceServiceService, Task } from '@rnas/proto';
import { publishModel, syntheticArtifact } from '@rnas/model';
import { loadInferenceConfig } from './config';
import { startInferenceService, type InferenceService } from './service';

const ROOT = path.resolve(__dirname, '../../..');
const MAX_BATCH = 4;

type Client = PromiseClient<typeof InferenceServiceService>;
let repo: string;
let service: InferenceService;
let client: Client;

function detect(request: Partial<DetectRequest>): ReturnType<Client['detect']> {
  return client.detect(DetectRequest.fromPartial({ modelName: 'shapes', ...request }));
}

const images = (...list: Buffer[]): DetectRequest['input'] => ({ $case: 'images', value: { images: list } });

let wide: Buffer;
let tall: Buffer;

beforeAll(async () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'services/inference'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  await initBackend();
  repo = await mkdtemp(path.join(tmpdir(), 'rnas-detect-'));
  await publishModel(
    repo,
    'shapes',
    syntheticArtifact({ task: 'detection', classes: 3, inputSize: 64, seed: 4 }),
  );
  await publishModel(repo, 'classifier', syntheticArtifact({ classes: 3, inputSize: 16 }));
  const config = loadInferenceConfig(
    [
      ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'],
      ...['--model-repo', repo, '--repo-poll-ms', '60000', '--max-batch-size', String(MAX_BATCH)],
    ],
    {},
  );
  service = await startInferenceService(config, {
    logger: createLogger({ service: 'inference', level: 'silent' }),
    shutdownSignals: [],
  });
  client = createClient(InferenceServiceService, `127.0.0.1:${service.port}`);
  for (;;) {
    const { models } = await client.listModels({});
    if (models.length === 2 && models.every((m) => m.servingVersion === 1)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const noise = (width: number, height: number): ReturnType<typeof sharp> =>
    sharp(Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 251)), {
      raw: { width, height, channels: 3 },
    });
  wide = await noise(200, 100).jpeg().toBuffer();
  tall = await noise(48, 150).png().toBuffer();
}, 600_000);

afterAll(async () => {
  client?.close();
  await service?.close();
  await rm(repo, { recursive: true, force: true });
});

describe('Detect', () => {
  it('tells the model task and head in GetModel', async () => {
    const { model } = await client.getModel({ modelName: 'shapes' });
    const version = model?.versions[0];
    expect(version?.task).toBe(Task.TASK_DETECTION);
    expect(version?.detection).toMatchObject({ inputSize: 64, aspectRatios: [2, 3], matchIou: 0.5 });
    expect(version?.inputShape).toEqual({ height: 64, width: 64, channels: 3 });
    const other = (await client.getModel({ modelName: 'classifier' })).model?.versions[0];
    expect(other?.task).toBe(Task.TASK_CLASSIFICATION);
    expect(other?.detection).toBeUndefined();
  });

  it("answers boxes in each image's own pixels, best first, within the request's filters", async () => {
    const response = await detect({ input: images(wide, tall), scoreThreshold: 0, maxDetections: 200 });
    expect(response).toMatchObject({ modelName: 'shapes', version: 1 });
    expect(response.images.map((i) => [i.width, i.height])).toEqual([
      [200, 100],
      [48, 150],
    ]);
    for (const image of response.images) {
      // An untrained detector: many low-score boxes, all inside the image, sorted by score.
      expect(image.detections.length).toBeGreaterThan(0);
      const scores = image.detections.map((d) => d.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
      for (const d of image.detections) {
        expect(['class-0', 'class-1', 'class-2']).toContain(d.label);
        expect(d.label).toBe(`class-${d.classIndex}`);
        const b = d.box;
        expect(b).toBeDefined();
        expect(
          0 <= (b?.xMin ?? -1) && (b?.xMin ?? 0) <= (b?.xMax ?? 0) && (b?.xMax ?? 1e9) <= image.width,
        ).toBe(true);
        expect(
          0 <= (b?.yMin ?? -1) && (b?.yMin ?? 0) <= (b?.yMax ?? 0) && (b?.yMax ?? 1e9) <= image.height,
        ).toBe(true);
      }
    }
    const all = response.images[0].detections;
    const top = (await detect({ input: images(wide), scoreThreshold: 0, maxDetections: 3 })).images[0]
      .detections;
    expect(top).toEqual(all.slice(0, 3));
    const threshold = all[Math.floor(all.length / 2)].score;
    const kept = (await detect({ input: images(wide), scoreThreshold: threshold, maxDetections: 200 }))
      .images[0].detections;
    expect(kept).toEqual(all.filter((d) => d.score >= threshold).slice(0, 200));
    const squares = (await detect({ input: images(wide), scoreThreshold: 0, classes: ['class-1'] }))
      .images[0];
    expect(squares.detections.every((d) => d.label === 'class-1')).toBe(true);
  });

  it('takes a preprocessed tensor: boxes in the input size', async () => {
    const values = Array.from({ length: 64 * 64 * 3 }, (_, i) => Math.sin(i) * 0.5);
    const response = await detect({
      input: { $case: 'tensor', value: { shape: [1, 64, 64, 3], values } },
      scoreThreshold: 0,
    });
    expect([response.images[0].width, response.images[0].height]).toEqual([64, 64]);
  });

  it('refuses a model of the other task, naming the task and the RPC to call', async () => {
    const wrong = await failure(detect({ modelName: 'classifier', input: images(wide) }));
    expect(wrong.code).toBe(status.FAILED_PRECONDITION);
    expect(wrong.details).toBe('model classifier version 1 is a classification model: call Classify');
    const reverse = await failure(
      client.classify({ modelName: 'shapes', input: images(wide), topK: 1 } as Parameters<
        Client['classify']
      >[0]),
    );
    expect(reverse.code).toBe(status.FAILED_PRECONDITION);
    expect(reverse.details).toBe('model shapes version 1 is a detection model: call Detect');
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, and keeps serving', async () => {
    const cases: [Partial<DetectRequest>, RegExp][] = [
      [{ input: images(wide), scoreThreshold: 1.5 }, /score_threshold=1\.5/],
      [{ input: images(wide), scoreThreshold: -0.1 }, /score_threshold/],
      [{ input: images(wide), maxDetections: 0 }, /max_detections=0/],
      [{ input: images(wide), maxDetections: 201 }, /max_detections=201/],
      [{ input: images(wide), classes: ['hexagon'] }, /classes\[0\]="hexagon"/],
      [{ input: images(Buffer.alloc(0)) }, /images\.images\[0\].*empty image/],
      [{ input: images(wide, Buffer.from('not an image at all')) }, /images\.images\[1\]/],
      [{ input: images(wide, wide, wide, wide, wide) }, /at most 4 images/],
      [{ input: images() }, /at least one image/],
      [{ input: { $case: 'tensor', value: { shape: [1, 32, 32, 3], values: [] } } }, /tensor\.shape/],
      [
        {
          input: {
            $case: 'tensor',
            value: { shape: [1, 64, 64, 3], values: [NaN, ...new Array(64 * 64 * 3 - 1).fill(0)] },
          },
        },
        /tensor\.values\[0\]/,
      ],
      [{}, /input/],
      [{ modelName: '' }, /model_name/],
    ];
    for (const [request, message] of cases) {
      const error = await failure(detect(request));
      expect([error.code, error.details]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(message)]);
    }
    expect((await detect({ input: images(tall) })).images).toHaveLength(1);
  });

  it("frees every tensor it makes: many Detect calls leave the compute worker's tensors where they were", async () => {
    await detect({ input: images(wide) });
    const before = (await service.engine.readMemory()).numTensors;
    for (let round = 0; round < 5; round++) {
      await Promise.all([1, 2, 3].map(() => detect({ input: images(wide, tall) })));
    }
    await failure(detect({ input: images(Buffer.from('junk')) }));
    expect((await service.engine.readMemory()).numTensors).toBe(before);
  });
});
