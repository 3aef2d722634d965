// Segment and EstimatePose over gRPC on a segmenter and a keypoint model published to the
// repository: label maps at each image's own size (PNG and raw agree), class counts covering the
// image, keypoints in the image's own pixels that follow their person when the image moves, the
// whole image as the default person, the task check every way, bad input and boxes refused naming
// the field, and the compute worker's tensors back where they were after many calls.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import sharp from 'sharp';
import { initBackend } from '@rnas/engine';
import { callFailure as failure, createClient, createLogger, type PromiseClient } from '@rnas/grpc';
import {
  EstimatePoseRequest,
  InferenceServiceService,
  LabelMapEncoding,
  SegmentRequest,
  Task,
  type BoundingBox,
  type ImageSegmentation,
} from '@rnas/proto';
import { labelsFromColours, vocPalette } from '@rnas/data';
import { publishModel, SYNTHETIC_KEYPOINTS, syntheticArtifact } from '@rnas/model';
import { loadInferenceConfig } from './config';
import { startInferenceService, type InferenceService } from './service';

const ROOT = path.resolve(__dirname, '../../..');
const MAX_BATCH = 4;
const CLASSES = 3;

type Client = PromiseClient<typeof InferenceServiceService>;
let repo: string;
let service: InferenceService;
let client: Client;

function segment(request: Partial<SegmentRequest>): ReturnType<Client['segment']> {
  return client.segment(SegmentRequest.fromPartial({ modelName: 'seg', ...request }));
}

function estimatePose(request: Partial<EstimatePoseRequest>): ReturnType<Client['estimatePose']> {
  return client.estimatePose(EstimatePoseRequest.fromPartial({ modelName: 'pose', ...request }));
}

const images = (...list: Buffer[]): SegmentRequest['input'] => ({ $case: 'images', value: { images: list } });
const batch = (...list: Buffer[]): EstimatePoseRequest['images'] => ({ images: list });
const box = (xMin: number, yMin: number, xMax: number, yMax: number): BoundingBox => ({
  xMin,
  yMin,
  xMax,
  yMax,
});

/** A deterministic RGB texture (not flat: the networks' outputs vary over it). */
function noise(width: number, height: number, seed = 0): Buffer {
  return Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * 37 + seed * 101) % 251));
}

let wide: Buffer;
let tall: Buffer;
let square: Buffer;

beforeAll(async () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'services/inference'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  await initBackend();
  repo = await mkdtemp(path.join(tmpdir(), 'rnas-dense-'));
  await publishModel(repo, 'seg', syntheticArtifact({ task: 'segmentation', classes: CLASSES, seed: 3 }));
  await publishModel(
    repo,
    'pose',
    syntheticArtifact({ task: 'keypoints', inputHeight: 64, inputWidth: 32, seed: 5 }),
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
    if (models.length === 3 && models.every((m) => m.servingVersion === 1)) break;
    if (models.some((m) => m.versions.some((v) => v.error !== ''))) {
      throw new Error(JSON.stringify(models.map((m) => m.versions.map((v) => v.error))));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const raw = (width: number, height: number, seed = 0): ReturnType<typeof sharp> =>
    sharp(noise(width, height, seed), { raw: { width, height, channels: 3 } });
  wide = await raw(200, 100).jpeg().toBuffer();
  tall = await raw(48, 150, 1).png().toBuffer();
  square = await raw(64, 64, 2).png().toBuffer();
}, 600_000);

afterAll(async () => {
  client?.close();
  await service?.close();
  await rm(repo, { recursive: true, force: true });
});

/** A PNG label map's class indices, read back through its colours (as any client would). */
async function pngLabels(png: Buffer): Promise<{ labels: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { labels, badPixel } = labelsFromColours(data, vocPalette());
  expect(badPixel).toBeUndefined();
  return { labels, width: info.width, height: info.height };
}

function checkCounts(image: ImageSegmentation): void {
  const total = image.classes.reduce((sum, c) => sum + c.pixels, 0);
  expect(total).toBe(image.width * image.height);
  const counts = image.classes.map((c) => c.pixels);
  expect(counts).toEqual([...counts].sort((a, b) => b - a));
  for (const c of image.classes) {
    expect(c.classIndex).toBeLessThan(CLASSES);
    expect(c.label).toBe(`class-${c.classIndex}`);
    expect(c.pixels).toBeGreaterThan(0);
  }
}

describe('Segment', () => {
  it('tells the task and its config in GetModel', async () => {
    const version = (await client.getModel({ modelName: 'seg' })).model?.versions[0];
    expect(version?.task).toBe(Task.TASK_SEGMENTATION);
    expect(version?.segmentation).toMatchObject({ inputHeight: 64, inputWidth: 64, headLrScale: 10 });
    expect(version?.keypoints).toBeUndefined();
    expect(version?.detection).toBeUndefined();
    expect(version?.inputShape).toEqual({ height: 64, width: 64, channels: 3 });
  });

  it("answers a label map at each image's own size, PNG and raw alike, with class pixel counts", async () => {
    const png = await segment({ input: images(wide, tall) });
    expect(png).toMatchObject({ modelName: 'seg', version: 1 });
    expect(png.images.map((i) => [i.width, i.height])).toEqual([
      [200, 100],
      [48, 150],
    ]);
    const raw = await segment({
      input: images(wide, tall),
      encoding: LabelMapEncoding.LABEL_MAP_ENCODING_RAW,
    });
    for (const [i, image] of png.images.entries()) {
      checkCounts(image);
      const decoded = await pngLabels(image.labelMap);
      expect([decoded.width, decoded.height]).toEqual([image.width, image.height]);
      const bytes = raw.images[i].labelMap;
      expect(bytes.length).toBe(image.width * image.height);
      expect(Buffer.from(decoded.labels).equals(bytes)).toBe(true);
      expect(raw.images[i].classes).toEqual(image.classes);
      // The counts are the map's.
      for (const c of image.classes) expect(bytes.filter((v) => v === c.classIndex).length).toBe(c.pixels);
    }
    const explicit = await segment({
      input: images(wide),
      encoding: LabelMapEncoding.LABEL_MAP_ENCODING_PNG,
    });
    expect(explicit.images[0].labelMap.equals(png.images[0].labelMap)).toBe(true);
  });

  it('takes a preprocessed tensor: the label map at the input size', async () => {
    const values = Array.from({ length: 64 * 64 * 3 }, (_, i) => Math.sin(i) * 0.5);
    const response = await segment({
      input: { $case: 'tensor', value: { shape: [1, 64, 64, 3], values } },
      encoding: LabelMapEncoding.LABEL_MAP_ENCODING_RAW,
    });
    expect([response.images[0].width, response.images[0].height]).toEqual([64, 64]);
    expect(response.images[0].labelMap.length).toBe(64 * 64);
    checkCounts(response.images[0]);
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, and keeps serving', async () => {
    const cases: [Partial<SegmentRequest>, RegExp][] = [
      [{ input: images(wide), encoding: 7 as LabelMapEncoding }, /encoding=7/],
      [{ input: images(Buffer.alloc(0)) }, /images\.images\[0\].*empty image/],
      [{ input: images(wide, Buffer.from('not an image at all')) }, /images\.images\[1\]/],
      [{ input: images(wide, wide, wide, wide, wide) }, /at most 4 images/],
      [{ input: images() }, /at least one image/],
      [{ input: { $case: 'tensor', value: { shape: [1, 32, 32, 3], values: [] } } }, /tensor\.shape/],
      [{}, /input/],
      [{ modelName: '' }, /model_name/],
    ];
    for (const [request, message] of cases) {
      const error = await failure(segment(request));
      expect([error.code, error.details]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(message)]);
    }
    expect((await segment({ input: images(tall) })).images).toHaveLength(1);
  });
});

describe('EstimatePose', () => {
  const names = SYNTHETIC_KEYPOINTS.keypointNames;

  it('tells the task, keypoint names and flattened skeleton in GetModel', async () => {
    const version = (await client.getModel({ modelName: 'pose' })).model?.versions[0];
    expect(version?.task).toBe(Task.TASK_KEYPOINTS);
    expect(version?.keypoints).toMatchObject({
      inputHeight: 64,
      inputWidth: 32,
      keypointNames: names,
      skeleton: SYNTHETIC_KEYPOINTS.skeleton.flat(),
      flipPairs: SYNTHETIC_KEYPOINTS.flipPairs.flat(),
    });
    expect(version?.labels).toEqual(names);
  });

  it("answers each box's keypoints in the image's pixels, inside the box's padded crop", async () => {
    // Box 40x60 at (80, 20): at the model's aspect 1:2 it is padded to 40x80, then 1.25x: 50x100
    // around (100, 50), i.e. x in [75, 125], y in [0, 100].
    const response = await estimatePose({
      images: batch(wide),
      boxes: [{ boxes: [box(80, 20, 120, 80), box(10, 10, 60, 90)] }],
    });
    expect(response).toMatchObject({ modelName: 'pose', version: 1 });
    expect(response.skeleton).toEqual(SYNTHETIC_KEYPOINTS.skeleton.flat());
    const [image] = response.images;
    expect([image.width, image.height]).toEqual([200, 100]);
    expect(image.people).toHaveLength(2);
    const [person] = image.people;
    expect(person.box).toEqual(box(80, 20, 120, 80));
    expect(person.keypoints.map((k) => k.name)).toEqual(names);
    for (const k of person.keypoints) {
      expect(k.x).toBeGreaterThanOrEqual(75 - 1e-3);
      expect(k.x).toBeLessThanOrEqual(125 + 1e-3);
      expect(k.y).toBeGreaterThanOrEqual(0);
      expect(k.y).toBeLessThanOrEqual(100);
      expect(Number.isFinite(k.score)).toBe(true);
    }
    for (const p of image.people) {
      const counted = p.keypoints.filter((k) => k.score > 0.2).map((k) => k.score);
      const mean = counted.length > 0 ? counted.reduce((a, b) => a + b, 0) / counted.length : 0;
      expect(p.score).toBeCloseTo(mean, 5);
    }
  });

  it('follows the person when the image moves: keypoints shift with it', async () => {
    const pixels = noise(120, 100, 4);
    const base = await sharp(pixels, { raw: { width: 120, height: 100, channels: 3 } })
      .png()
      .toBuffer();
    const shifted = await sharp(pixels, { raw: { width: 120, height: 100, channels: 3 } })
      .extend({ left: 30, top: 12, background: '#000000' })
      .png()
      .toBuffer();
    const response = await estimatePose({
      images: batch(base, shifted),
      boxes: [{ boxes: [box(40, 30, 80, 70)] }, { boxes: [box(70, 42, 110, 82)] }],
    });
    const [a, b] = response.images.map((image) => image.people[0].keypoints);
    for (const [j, k] of a.entries()) {
      expect(b[j].x - k.x).toBeCloseTo(30, 3);
      expect(b[j].y - k.y).toBeCloseTo(12, 3);
      expect(b[j].score).toBeCloseTo(k.score, 5);
    }
  });

  it('takes the whole image as one person without boxes, or for an entry without any', async () => {
    const none = await estimatePose({ images: batch(wide, tall) });
    expect(none.images.map((i) => i.people.map((p) => p.box))).toEqual([
      [box(0, 0, 200, 100)],
      [box(0, 0, 48, 150)],
    ]);
    for (const image of none.images) {
      for (const k of image.people[0].keypoints) {
        expect(k.x >= 0 && k.x <= image.width && k.y >= 0 && k.y <= image.height).toBe(true);
      }
    }
    const mixed = await estimatePose({
      images: batch(wide, tall),
      boxes: [{ boxes: [] }, { boxes: [box(4, 10, 40, 140)] }],
    });
    expect(mixed.images[0].people).toEqual(none.images[0].people);
    expect(mixed.images[1].people.map((p) => p.box)).toEqual([box(4, 10, 40, 140)]);
    // Within a pixel of the edge is the edge: clipped, not refused.
    const edge = await estimatePose({ images: batch(tall), boxes: [{ boxes: [box(-0.5, 0, 48.9, 150.5)] }] });
    expect(edge.images[0].people[0].box).toEqual(box(0, 0, 48, 150));
    expect(edge.images[0].people[0].keypoints).toEqual(none.images[1].people[0].keypoints);
  });

  it('refuses bad boxes and images with INVALID_ARGUMENT naming the field and value, and keeps serving', async () => {
    const cases: [Partial<EstimatePoseRequest>, RegExp][] = [
      [
        { images: batch(wide), boxes: [{ boxes: [box(10, 10, 20, 20), box(150, 20, 260, 80)] }] },
        /^invalid boxes\[0\]\.boxes\[1\]="x_min=150 y_min=20 x_max=260 y_max=80": expected a box inside the image \(200x100 pixels\)$/,
      ],
      [{ images: batch(wide), boxes: [{ boxes: [box(-5, 0, 20, 20)] }] }, /boxes\[0\]\.boxes\[0\].*x_min=-5/],
      [
        { images: batch(wide), boxes: [{ boxes: [box(10, 10, 10, 50)] }] },
        /boxes\[0\]\.boxes\[0\].*positive area/,
      ],
      [
        { images: batch(wide), boxes: [{ boxes: [box(30, 50, 10, 60)] }] },
        /boxes\[0\]\.boxes\[0\].*positive area/,
      ],
      [
        { images: batch(wide), boxes: [{ boxes: [box(NaN, 0, 10, 10)] }] },
        /boxes\[0\]\.boxes\[0\]="x_min=NaN.*finite/,
      ],
      [
        { images: batch(wide, tall), boxes: [{ boxes: [] }, { boxes: [box(0, 0, Infinity, 5)] }] },
        /boxes\[1\]\.boxes\[0\].*x_max=Infinity.*finite/,
      ],
      [
        { images: batch(wide, tall), boxes: [{ boxes: [] }] },
        /^invalid boxes="1 entries": expected none .* \(2\)$/,
      ],
      [
        { images: batch(wide), boxes: [{ boxes: Array.from({ length: 100_000 }, () => box(1, 1, 5, 5)) }] },
        /^invalid boxes="100000 people": at most 4 people per request/,
      ],
      [
        {
          images: batch(wide, tall, wide),
          // An image without boxes counts as one person: 1 + 1 + 3.
          boxes: [
            { boxes: [] },
            { boxes: [] },
            { boxes: [box(1, 1, 5, 5), box(1, 1, 5, 5), box(1, 1, 5, 5)] },
          ],
        },
        /^invalid boxes="5 people": at most 4 people/,
      ],
      [{ images: batch(Buffer.alloc(0)) }, /images\.images\[0\].*empty image/],
      [{ images: batch(wide, Buffer.from('GIF89a garbage')) }, /images\.images\[1\].*format gif/],
      [{ images: batch(wide, wide, wide, wide, wide) }, /at most 4 images/],
      [{ images: batch() }, /at least one image/],
      [{}, /at least one image/],
      [{ modelName: '' }, /model_name/],
    ];
    for (const [request, message] of cases) {
      const error = await failure(estimatePose(request));
      expect([error.code, error.details]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(message)]);
    }
    expect((await estimatePose({ images: batch(square) })).images[0].people).toHaveLength(1);
  });
});

describe('tasks and resources', () => {
  it('refuses a model of another task with FAILED_PRECONDITION naming its task and RPC', async () => {
    const cases: [() => Promise<unknown>, string][] = [
      [
        () => segment({ modelName: 'classifier', input: images(wide) }),
        'model classifier version 1 is a classification model: call Classify',
      ],
      [
        () => segment({ modelName: 'pose', input: images(wide) }),
        'model pose version 1 is a keypoints model: call EstimatePose',
      ],
      [
        () => estimatePose({ modelName: 'seg', images: batch(wide) }),
        'model seg version 1 is a segmentation model: call Segment',
      ],
      [
        () => estimatePose({ modelName: 'classifier', images: batch(wide) }),
        'model classifier version 1 is a classification model: call Classify',
      ],
      [
        () =>
          client.classify({ modelName: 'seg', input: images(wide), topK: 1 } as Parameters<
            Client['classify']
          >[0]),
        'model seg version 1 is a segmentation model: call Segment',
      ],
      [
        () =>
          client.detect({ modelName: 'pose', input: images(wide), classes: [] } as Parameters<
            Client['detect']
          >[0]),
        'model pose version 1 is a keypoints model: call EstimatePose',
      ],
    ];
    // Each call starts when its turn comes: a rejection nobody awaits yet fails the test run.
    for (const [call, details] of cases) {
      const error = await failure(call());
      expect([error.code, error.details]).toEqual([status.FAILED_PRECONDITION, details]);
    }
  });

  it("frees every tensor it makes: many calls leave the compute worker's tensors where they were", async () => {
    await segment({ input: images(wide) });
    await estimatePose({ images: batch(wide) });
    const before = (await service.engine.readMemory()).numTensors;
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        segment({ input: images(wide, tall) }),
        estimatePose({ images: batch(wide, tall), boxes: [{ boxes: [box(5, 5, 50, 50)] }, { boxes: [] }] }),
        estimatePose({ images: batch(square) }),
      ]);
    }
    await failure(segment({ input: images(Buffer.from('junk')) }));
    await failure(estimatePose({ images: batch(wide), boxes: [{ boxes: [box(0, 0, 500, 5)] }] }));
    expect((await service.engine.readMemory()).numTensors).toBe(before);
  });
});
