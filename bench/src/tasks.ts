// The tasks' benchmark: detection, segmentation and keypoints at their demos' sizes, next to
// classification at the classification demo's: training throughput (one epoch of `train`, every
// task on the same machine at the same moment), and serving throughput through the inference
// service in its own process with 1 and 16 clients, one encoded image per call (Detect and Segment:
// a JPEG of the demo's data; EstimatePose: a JPEG with one person box; Classify: a 28x28 PNG),
// dynamic batching on. Writes the "Tasks" section of docs/benchmarks.md.
// Run: `npx tsc -b && node bench/dist/tasks.js [--seconds S] [--quick] [--no-write]`.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '@rnas/engine';
import {
  openDataset,
  openDetectionDataset,
  openKeypointDataset,
  openSegmentationDataset,
  writeDetectionShapes,
  writeKeypointFigures,
  writeSegmentationShapes,
  type Dataset,
} from '@rnas/data';
import { publishModel, syntheticArtifact, type SyntheticModelOptions } from '@rnas/model';
import { getPublishedGenotype } from '@rnas/nas';
import { createClient, type PromiseClient } from '@rnas/grpc';
import { InferenceServiceService } from '@rnas/proto';
import { resolveDetectionConfig, resolveKeypointConfig, resolveSegmentationConfig } from '@rnas/tasks';
import { train, type RecipeInput, type TrainOptions } from '@rnas/train';
import { BENCHMARKS_DOC, writeDocSection } from './docs-section';
import { benchmarkMain, startServer, stopServer } from './inference-process';

/** The detection demo's network and input (services/cli/src/commands/demo-detect.ts). */
const DETECTOR = { channels: 16, layers: 5, inputSize: 128, imageSize: 160, batch: 16 };
/** The segmentation demo's (demo-segment.ts) and the keypoint demo's (demo-pose.ts: 96x64 crops). */
const SEGMENTER = { channels: 16, layers: 5, inputSize: 64, imageSize: 64, batch: 16 };
const POSE = { channels: 16, layers: 5, inputHeight: 96, inputWidth: 64, imageSize: 96, batch: 16 };
/** The classification demo's trained network (services/cli/src/commands/demo-config.ts). */
const CLASSIFIER = { channels: 8, layers: 3, batch: 64 };
const CLIENTS = [1, 16];

interface Options {
  seconds: number;
  trainImages: number;
  write: boolean;
  doc: string;
}

const USAGE = `usage: node bench/dist/tasks.js [--seconds S] [--quick] [--no-write] [--doc PATH]
  --seconds S  serving time per configuration (default 10; a warm-up of S/5 comes first)
  --quick      2 seconds per configuration and 96 training images: checks that it runs
  --no-write   print the results only; leave docs/benchmarks.md alone
  --doc PATH   the markdown file to update (default: docs/benchmarks.md of the repository)`;

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { seconds: 10, trainImages: 640, write: true, doc: BENCHMARKS_DOC };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') Object.assign(options, { seconds: 2, trainImages: 96 });
    else if (arg === '--no-write') options.write = false;
    else if (arg === '--seconds') {
      const value = Number(argv[++i]);
      if (!(value > 0 && value <= 600))
        throw new Error(`--seconds: expected a number in (0, 600], got ${argv[i]}`);
      options.seconds = value;
    } else if (arg === '--doc') {
      const value = argv[++i];
      if (value === undefined || value === '') throw new Error('--doc needs a path');
      options.doc = path.resolve(value);
    } else {
      throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
  }
  return options;
}

/** Training images per second of one epoch (steps only: data loading and evaluation excluded). */
async function trainingThroughput(options: TrainOptions): Promise<number> {
  const result = await train(options);
  return result.history[0].imagesPerSecond;
}

/** Classification's training data: Fashion-MNIST when installed, else synthetic 28x28 shapes. */
async function classificationData(images: number): Promise<{ dataset: Dataset; name: string }> {
  try {
    const dataset = await openDataset('fashion-mnist:/usr/share/datasets/fashion-mnist', {
      dataRoots: ['/usr/share/datasets'],
    });
    return { dataset, name: 'Fashion-MNIST' };
  } catch {
    const uri = `synthetic:shapes?classes=10&size=28&channels=1&train=${images}&test=16&seed=1`;
    return { dataset: await openDataset(uri), name: 'synthetic 28x28 shapes' };
  }
}

type Client = PromiseClient<typeof InferenceServiceService>;

/** `clients` loops sending one image per call for `seconds`: calls per second. */
async function drive(
  call: (image: Buffer) => Promise<unknown>,
  clients: number,
  seconds: number,
  images: readonly Buffer[],
): Promise<number> {
  let ok = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      for (let i = worker; performance.now() < end; i += clients) {
        await call(images[i % images.length]);
        ok++;
      }
    }),
  );
  return ok / ((performance.now() - started) / 1000);
}

/** Serving throughput of one model in the service's own process at each client count. */
async function servingThroughput(
  root: string,
  name: string,
  model: SyntheticModelOptions,
  images: readonly Buffer[],
  call: (client: Client, image: Buffer) => Promise<unknown>,
  seconds: number,
): Promise<number[]> {
  const repo = path.join(root, `repo-${name}`);
  await publishModel(repo, name, syntheticArtifact(model));
  const backend = await initBackend();
  const server = await startServer(
    __filename,
    [
      ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--log-level', 'info'],
      ...['--model-repo', repo, '--max-batch-size', '16', '--max-queue-size', '1024'],
    ],
    backend,
  );
  const client = createClient(InferenceServiceService, `127.0.0.1:${server.port}`);
  try {
    const rates: number[] = [];
    for (const clients of CLIENTS) {
      await drive((image) => call(client, image), clients, seconds / 5, images);
      rates.push(await drive((image) => call(client, image), clients, seconds, images));
    }
    return rates;
  } finally {
    client.close();
    await stopServer(server);
  }
}

async function bench(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  const backend = await initBackend();
  const loadBefore = loadavg()[0];
  const started = performance.now();
  const root = await mkdtemp(path.join(tmpdir(), 'rnas-bench-tasks-'));
  try {
    const genotype = getPublishedGenotype('RelativeNAS');
    const { uri } = await writeDetectionShapes(path.join(root, 'data', 'shapes'), {
      format: 'voc',
      train: options.trainImages,
      test: 16,
      size: DETECTOR.imageSize,
      seed: 1,
    });
    const voc = await openDetectionDataset(uri, { dataRoots: [path.join(root, 'data')] });
    const detectionRecipe = (augmentation: 'ssd' | 'mirror'): TrainOptions => ({
      spec: {
        variant: 'imagenet',
        channels: DETECTOR.channels,
        layers: DETECTOR.layers,
        classes: 3,
        inChannels: 3,
        auxiliary: false,
      },
      genotype,
      task: 'detection',
      detection: resolveDetectionConfig({ inputSize: DETECTOR.inputSize, augmentation }),
      dataset: voc,
      recipe: {
        epochs: 1,
        batchSize: DETECTOR.batch,
        learningRate: 0.05,
        seed: 1,
        evalImages: 1,
      } satisfies RecipeInput,
    });
    // A first epoch pays for the backend's kernel set-up: run it once, unmeasured.
    await trainingThroughput({
      ...detectionRecipe('mirror'),
      recipe: { ...detectionRecipe('mirror').recipe, trainImages: 2 * DETECTOR.batch },
    });
    const detectMirror = await trainingThroughput(detectionRecipe('mirror'));
    const detectSsd = await trainingThroughput(detectionRecipe('ssd'));
    const dense = { variant: 'imagenet', inChannels: 3, auxiliary: false } as const;
    const { uri: segUri } = await writeSegmentationShapes(path.join(root, 'data', 'seg'), {
      train: options.trainImages,
      test: 16,
      size: SEGMENTER.imageSize,
      seed: 1,
    });
    const seg = await openSegmentationDataset(segUri, { dataRoots: [path.join(root, 'data')] });
    const segment = await trainingThroughput({
      spec: {
        ...dense,
        channels: SEGMENTER.channels,
        layers: SEGMENTER.layers,
        classes: seg.classNames.length,
      },
      genotype,
      task: 'segmentation',
      segmentation: resolveSegmentationConfig({
        inputHeight: SEGMENTER.inputSize,
        inputWidth: SEGMENTER.inputSize,
        scales: [0.75, 1, 1.25],
      }),
      dataset: seg,
      recipe: { epochs: 1, batchSize: SEGMENTER.batch, learningRate: 0.05, seed: 1, evalImages: 1 },
    });
    const { uri: poseUri } = await writeKeypointFigures(path.join(root, 'data', 'pose'), {
      train: options.trainImages,
      test: 16,
      size: POSE.imageSize,
      seed: 1,
    });
    const figures = await openKeypointDataset(poseUri, { dataRoots: [path.join(root, 'data')] });
    const pose = await trainingThroughput({
      spec: { ...dense, channels: POSE.channels, layers: POSE.layers, classes: figures.keypointNames.length },
      genotype,
      task: 'keypoints',
      keypoints: resolveKeypointConfig({ inputHeight: POSE.inputHeight, inputWidth: POSE.inputWidth }),
      dataset: figures,
      recipe: {
        epochs: 1,
        batchSize: POSE.batch,
        learningRate: 0.1,
        seed: 1,
        evalImages: 1,
        trainImages: options.trainImages,
      },
    });
    const { dataset: fashion, name: fashionName } = await classificationData(options.trainImages * 4);
    const classify = await trainingThroughput({
      spec: {
        variant: 'cifar',
        channels: CLASSIFIER.channels,
        layers: CLASSIFIER.layers,
        classes: 10,
        inChannels: 1,
        auxiliary: false,
      },
      genotype,
      dataset: fashion,
      recipe: {
        epochs: 1,
        batchSize: CLASSIFIER.batch,
        learningRate: 0.05,
        cutout: 0,
        dropPath: 0,
        trainImages: options.trainImages * 4,
        evalImages: 1,
        seed: 1,
      },
    });
    process.stdout.write(
      `training: detection ${detectMirror.toFixed(1)} images/s (mirror), ${detectSsd.toFixed(1)} (ssd augmentation); ` +
        `segmentation ${segment.toFixed(1)} images/s; keypoints ${pose.toFixed(1)} crops/s; ` +
        `classification ${classify.toFixed(1)} images/s\n`,
    );

    const jpegs = await Promise.all(voc.test.slice(0, 16).map((image) => readFile(image.file)));
    const detector: SyntheticModelOptions = {
      task: 'detection',
      channels: DETECTOR.channels,
      layers: DETECTOR.layers,
      classes: 3,
      inputSize: DETECTOR.inputSize,
      genotype: 'RelativeNAS',
    };
    const detectRates = await servingThroughput(
      root,
      'detector',
      detector,
      jpegs,
      (client, image) =>
        client.detect(
          { modelName: 'detector', input: { $case: 'images', value: { images: [image] } }, classes: [] },
          { deadlineMs: 60_000 },
        ),
      options.seconds,
    );
    const segJpegs = await Promise.all(seg.test.slice(0, 16).map((image) => readFile(image.file)));
    const segmentRates = await servingThroughput(
      root,
      'segmenter',
      {
        task: 'segmentation',
        channels: SEGMENTER.channels,
        layers: SEGMENTER.layers,
        classes: seg.classNames.length,
        inputSize: SEGMENTER.inputSize,
        genotype: 'RelativeNAS',
      },
      segJpegs,
      (client, image) =>
        client.segment(
          { modelName: 'segmenter', input: { $case: 'images', value: { images: [image] } }, encoding: 0 },
          { deadlineMs: 60_000 },
        ),
      options.seconds,
    );
    const people = figures.test.slice(0, 16);
    const poseJpegs = await Promise.all(people.map((person) => readFile(person.file)));
    const boxOf = new Map<Buffer, readonly number[]>(poseJpegs.map((jpeg, i) => [jpeg, people[i].box]));
    const poseRates = await servingThroughput(
      root,
      'pose',
      {
        task: 'keypoints',
        channels: POSE.channels,
        layers: POSE.layers,
        inputHeight: POSE.inputHeight,
        inputWidth: POSE.inputWidth,
        genotype: 'RelativeNAS',
      },
      poseJpegs,
      (client, image) => {
        const [x, y, w, h] = boxOf.get(image) as [number, number, number, number];
        return client.estimatePose(
          {
            modelName: 'pose',
            images: { images: [image] },
            boxes: [{ boxes: [{ xMin: x, yMin: y, xMax: x + w, yMax: y + h }] }],
          },
          { deadlineMs: 60_000 },
        );
      },
      options.seconds,
    );
    const pngs = await Promise.all(
      Array.from({ length: 16 }, (_, n) =>
        sharp(Buffer.from(Array.from({ length: 28 * 28 }, (_, i) => (i * 31 + n * 17) % 256)), {
          raw: { width: 28, height: 28, channels: 1 },
        })
          .png()
          .toBuffer(),
      ),
    );
    const classifier: SyntheticModelOptions = {
      channels: CLASSIFIER.channels,
      layers: CLASSIFIER.layers,
      classes: 10,
      inputSize: 28,
      inChannels: 1,
      genotype: 'RelativeNAS',
    };
    const classifyRates = await servingThroughput(
      root,
      'classifier',
      classifier,
      pngs,
      (client, image) =>
        client.classify(
          { modelName: 'classifier', topK: 1, input: { $case: 'images', value: { images: [image] } } },
          { deadlineMs: 60_000 },
        ),
      options.seconds,
    );
    process.stdout.write(
      `serving: Detect ${detectRates.map((r, i) => `${CLIENTS[i]} client(s) ${r.toFixed(1)}`).join(', ')} images/s; ` +
        `Segment ${segmentRates.map((r, i) => `${CLIENTS[i]} client(s) ${r.toFixed(1)}`).join(', ')} images/s; ` +
        `EstimatePose ${poseRates.map((r, i) => `${CLIENTS[i]} client(s) ${r.toFixed(1)}`).join(', ')} images/s; ` +
        `Classify ${classifyRates.map((r, i) => `${CLIENTS[i]} client(s) ${r.toFixed(1)}`).join(', ')} images/s\n`,
    );

    const cpu = cpus();
    const minutes = (performance.now() - started) / 60_000;
    const table = [
      '| task (network, input) | training, images/s | serving, 1 client, images/s | serving, 16 clients, images/s |',
      '| --- | --- | --- | --- |',
      `| detection: SSDLite on RelativeNAS, ImageNet variant ${DETECTOR.layers} cells x ${DETECTOR.channels} channels, ${DETECTOR.inputSize}x${DETECTOR.inputSize}x3, batch ${DETECTOR.batch} | ${detectMirror.toFixed(1)} (mirror augmentation); ${detectSsd.toFixed(1)} (ssd) | ${detectRates[0].toFixed(1)} | ${detectRates[1].toFixed(1)} |`,
      `| segmentation: BiSeNet on RelativeNAS, ImageNet variant ${SEGMENTER.layers} cells x ${SEGMENTER.channels} channels, ${SEGMENTER.inputSize}x${SEGMENTER.inputSize}x3, batch ${SEGMENTER.batch} | ${segment.toFixed(1)} | ${segmentRates[0].toFixed(1)} | ${segmentRates[1].toFixed(1)} |`,
      `| keypoints: SimpleBaseline on RelativeNAS, ImageNet variant ${POSE.layers} cells x ${POSE.channels} channels, ${POSE.inputHeight}x${POSE.inputWidth}x3 crops, batch ${POSE.batch} | ${pose.toFixed(1)} (crops/s) | ${poseRates[0].toFixed(1)} | ${poseRates[1].toFixed(1)} |`,
      `| classification: RelativeNAS, CIFAR variant ${CLASSIFIER.layers} cells x ${CLASSIFIER.channels} channels, 28x28x1, batch ${CLASSIFIER.batch} | ${classify.toFixed(1)} | ${classifyRates[0].toFixed(1)} | ${classifyRates[1].toFixed(1)} |`,
    ].join('\n');
    process.stdout.write(`\n${table}\n`);
    const body = [
      `Command: \`npx tsc -b && node bench/dist/tasks.js${argv.length > 0 ? ` ${argv.join(' ')}` : ''}\` (about ${minutes.toFixed(1)} min).`,
      `Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
        `backend ${backend.name} (tfjs '${backend.tfBackend}'); load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end; ${new Date().toISOString().slice(0, 10)}.`,
      '',
      `Each task at its demo's sizes (\`make demo-detect\`, \`make demo-segment\`, \`make demo-pose\`, \`make demo\`). Training: one epoch of \`train\` ` +
        `(${options.trainImages} synthetic images for each dense task: ${DETECTOR.imageSize}x${DETECTOR.imageSize} VOC images for detection, decoded, augmented, resized and matched ` +
        `to the priors; ${SEGMENTER.imageSize}x${SEGMENTER.imageSize} VOC segmentation images, scaled, cropped and flipped with their label maps; the people of ` +
        `${POSE.imageSize}x${POSE.imageSize} stick-figure images, cropped at ${POSE.inputHeight}x${POSE.inputWidth} with scale, rotation and flip, Gaussian heatmap targets; ` +
        `${options.trainImages * 4} ${fashionName} images for classification), images (keypoints: person crops) per second of the steps (the epoch report's ` +
        "`images_per_second`: forward, the task's loss, backward, SGD; data loading and evaluation excluded). " +
        'Serving: the inference service in its own process (`--max-batch-size 16`, dynamic batching on), freshly initialised models ' +
        'of those networks, each client sending one image per call (Detect: a JPEG, decoded, stretched to the input, NMS per class, boxes ' +
        'mapped back; Segment: a JPEG, stretched to the input, the label map resized back and PNG-encoded; EstimatePose: a JPEG and one ' +
        'person box, cropped by affine warp, flip test (two forward passes), keypoints mapped back; Classify: a 28x28 PNG, top 1) and the ' +
        `next as soon as the answer arrives, for ${options.seconds} s after a warm-up of ${options.seconds / 5} s.`,
      '',
      table,
    ].join('\n');
    if (options.write) {
      await writeDocSection('Tasks', body, options.doc);
      process.stdout.write(`wrote the Tasks section of ${options.doc}\n`);
    }
    return 0;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

benchmarkMain(bench);
