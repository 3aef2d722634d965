// Soak test (`make soak`): the inference and training services as processes of their own, 64
// Classify clients for 10 minutes while the training service publishes new versions of the model
// they call, one training after another. Every 10 s the inference service's resident set, JS heap
// (each the lowest of the period's readings, one a second: the GC floor) and live tfjs tensors (its
// /metrics) are sampled and printed; the run fails (exit 1) when the median of the last minute is
// more than 10% above the median of the first minute after the warm-up, or when any call failed with
// another code than RESOURCE_EXHAUSTED (load shedding), or a training failed.
//
// The inference service loads every version of the repository (Triton's "all versions" policy),
// so the soak retires versions as an operator would: once a new version is READY, the version
// directories older than the newest two are removed, and the service frees them.
// Run: `npx tsc -b && node bench/dist/soak.js [--duration-s S] [--clients N] [--sample-s S] [--warmup-s S]`.
import { readdir, rm, mkdtemp } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { status } from '@grpc/grpc-js';
import { initBackend } from '@rnas/engine';
import { publishModel, syntheticArtifact } from '@rnas/model';
import { getPublishedGenotype, genotypeToProto } from '@rnas/nas';
import {
  collectStream,
  createClient,
  isServiceError,
  sampleValue,
  scrapeLocalMetrics,
  spawnServiceProcess,
  type ServiceProcess,
} from '@rnas/grpc';
import { InferenceServiceService, TrainingServiceService, TrainingState, Task } from '@rnas/proto';
import { benchmarkMain, startServer, stopServer } from './inference-process';

const MODEL = 'soak';
const ROOT = path.resolve(__dirname, '..', '..');
const TRAINING_MAIN = path.join(ROOT, 'services', 'training', 'dist', 'main.js');
/** The network every version has: the initial synthetic one and each trained one. */
const NETWORK = { layers: 3, channels: 8, inputSize: 28, inChannels: 1, classes: 10 };
const DATASET = 'synthetic:shapes?classes=10&size=28&channels=1&train=2048&test=64';
const KEEP_VERSIONS = 2;
const GROWTH_LIMIT = 0.1;
/** The windows compared: the first and the last this many seconds after the warm-up. */
const WINDOW_S = 60;
/** How often the service's memory is read within a sampling period. */
const POLL_MS = 1000;

interface Options {
  durationS: number;
  clients: number;
  sampleS: number;
  warmupS: number;
}

const USAGE = `usage: node bench/dist/soak.js [--duration-s S] [--clients N] [--sample-s S] [--warmup-s S]
  --duration-s S  how long the clients run (default 600)
  --clients N     concurrent Classify clients, each one call at a time (default 64)
  --sample-s S    sampling period of the service's memory (default 10); memory is read every second
                  and each sample keeps the period's lowest RSS and JS heap (the GC floor)
  --warmup-s S    samples before this are warm-up; the first after it is the reference (default 180,
                  at most a third of the duration)`;

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { durationS: 600, clients: 64, sampleS: 10, warmupS: 180 };
  const ranges: Record<string, [keyof Options, number, number]> = {
    '--duration-s': ['durationS', 10, 86_400],
    '--clients': ['clients', 1, 1024],
    '--sample-s': ['sampleS', 1, 600],
    '--warmup-s': ['warmupS', 0, 86_400],
  };
  for (let i = 0; i < argv.length; i++) {
    const range = ranges[argv[i]];
    if (range === undefined) throw new Error(`unknown argument ${JSON.stringify(argv[i])}\n${USAGE}`);
    const [key, min, max] = range;
    const value = Number(argv[++i]);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${argv[i - 1]}: expected an integer in [${min}, ${max}], got ${argv[i]}`);
    }
    options[key] = value;
  }
  options.warmupS = Math.min(options.warmupS, Math.floor(options.durationS / 3));
  return options;
}

interface Sample {
  atS: number;
  rss: number;
  heap: number;
  tensors: number;
  /** Versions loaded or loading: each holds its weights as tensors. */
  loaded: number;
  trainingRss: number;
  ok: number;
  shed: number;
  versions: number;
}

/** Distinct 28x28 greyscale PNGs, as a client would send them. */
async function images(count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let x = 777;
  for (let n = 0; n < count; n++) {
    const pixels = Buffer.alloc(28 * 28);
    for (let i = 0; i < pixels.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      pixels[i] = x >>> 24;
    }
    out.push(
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer(),
    );
  }
  return out;
}

/** Removes every version directory of the model but the newest `keep`. */
async function retireVersions(repo: string, keep: number): Promise<void> {
  const versions = (await readdir(path.join(repo, MODEL)))
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .sort((a, b) => b - a);
  for (const old of versions.slice(keep)) {
    await rm(path.join(repo, MODEL, String(old)), { recursive: true, force: true });
  }
}

const MiB = 1024 * 1024;

/** Versions the service holds (every state but FAILED), from rnas_inference_model_versions{state}. */
function loadedVersions(metrics: string): number {
  let count = 0;
  for (const match of metrics.matchAll(/^rnas_inference_model_versions\{state="([^"]+)"\} (\S+)$/gm)) {
    if (match[1].toLowerCase() !== 'failed') count += Number(match[2]);
  }
  return count;
}

/** Live tensors per version held: what grows if something leaks, whatever the number of versions. */
const tensorsPerVersion = (s: Sample): number => s.tensors / Math.max(1, s.loaded);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function table(samples: readonly Sample[], reference: number): string {
  const rows = samples.map((s, i) =>
    [
      `${s.atS.toFixed(0)}`.padStart(6),
      (s.rss / MiB).toFixed(1).padStart(9),
      (s.heap / MiB).toFixed(1).padStart(8),
      String(s.tensors).padStart(8),
      String(s.loaded).padStart(7),
      (s.trainingRss / MiB).toFixed(1).padStart(13),
      String(s.ok).padStart(9),
      String(s.shed).padStart(6),
      String(s.versions).padStart(9),
      i === reference ? ' <- reference (first after warm-up)' : '',
    ].join(' '),
  );
  return [
    '   t/s  RSS/MiB heap/MiB  tensors  held training RSS/MiB  calls ok   shed published',
    ...rows,
  ].join('\n');
}

async function soak(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  const backend = await initBackend();
  const loadBefore = loadavg()[0];
  const root = await mkdtemp(path.join(tmpdir(), 'rnas-soak-'));
  const repo = path.join(root, 'models');
  let training: ServiceProcess | undefined;
  let inference: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await publishModel(repo, MODEL, syntheticArtifact(NETWORK));
    inference = await startServer(
      __filename,
      [
        ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--log-level', 'info'],
        ...['--model-repo', repo, '--repo-poll-ms', '1000'],
      ],
      backend,
    );
    training = await spawnServiceProcess(TRAINING_MAIN, [
      ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--log-level', 'info'],
      ...['--state-dir', path.join(root, 'training-state'), '--model-repo', repo],
    ]);
    const trainingMetricsPort = training.logs.find((l) => l.msg === 'serving')?.metricsPort as number;
    const classify = createClient(InferenceServiceService, `127.0.0.1:${inference.port}`);
    const trainer = createClient(TrainingServiceService, `127.0.0.1:${training.port}`);
    const pngs = await images(32);
    const started = performance.now();
    const end = started + options.durationS * 1000;
    const errors = new Map<string, number>();
    const fail = (what: string): void => void errors.set(what, (errors.get(what) ?? 0) + 1);
    let ok = 0;
    let shed = 0;
    let published = 0;
    process.stdout.write(
      `soak: ${options.clients} Classify clients for ${options.durationS} s against the inference service ` +
        `(pid ${inference.child.pid}) while the training service (pid ${training.child.pid}) publishes ` +
        `versions of "${MODEL}"; sampling every ${options.sampleS} s, warm-up ${options.warmupS} s; backend ${backend.name}\n`,
    );

    const clients = Array.from({ length: options.clients }, async (_, worker) => {
      for (let i = worker; performance.now() < end; i += options.clients) {
        try {
          await classify.classify(
            {
              modelName: MODEL,
              topK: 1,
              input: { $case: 'images', value: { images: [pngs[i % pngs.length]] } },
            },
            { deadlineMs: 60_000 },
          );
          ok++;
        } catch (error) {
          if (isServiceError(error) && error.code === status.RESOURCE_EXHAUSTED) shed++;
          else
            fail(`Classify ${isServiceError(error) ? status[error.code] : ''}: ${(error as Error).message}`);
        }
      }
    });

    const trainings = (async () => {
      for (let seed = 1; performance.now() < end; seed++) {
        const { training: started } = await trainer.startTraining({
          architecture: { $case: 'genotype', value: genotypeToProto(getPublishedGenotype('DARTS_V2')) },
          spec: {
            variant: 0,
            channels: NETWORK.channels,
            layers: NETWORK.layers,
            classes: 0,
            inputChannels: 0,
            inputSize: 0,
            auxiliary: false,
          },
          datasetUri: DATASET,
          recipe: { epochs: 1, batchSize: 64, learningRate: 0.05, cutout: 0, learningRateSchedule: 0, seed },
          modelName: MODEL,
          task: Task.TASK_UNSPECIFIED,
          detection: undefined,
        });
        await collectStream(trainer.watchTraining({ trainingId: started!.id, afterSequence: '0' }));
        const { training: done } = await trainer.getTraining({ trainingId: started!.id });
        if (done!.state !== TrainingState.TRAINING_STATE_SUCCEEDED) {
          fail(`training ${TrainingState[done!.state]}: ${done!.error}`);
          continue;
        }
        published++;
        // The clients call the newest READY version; once it serves, the older ones go.
        const version = done!.model?.version ?? 0;
        const until = performance.now() + 120_000;
        while (performance.now() < until) {
          const { model } = await classify.getModel({ modelName: MODEL });
          if ((model?.servingVersion ?? 0) >= version) break;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        await retireVersions(repo, KEEP_VERSIONS);
      }
    })().catch((error: unknown) => fail(`trainings: ${(error as Error).message}`));

    const samples: Sample[] = [];
    const sampling = (async () => {
      for (let next = started + options.sampleS * 1000; next <= end; next += options.sampleS * 1000) {
        // Polled every second; the sample keeps the lowest RSS and JS heap of its period: the floor
        // the garbage collector returns to, which is what a leak raises (single readings land
        // anywhere on the collector's sawtooth, tens of MiB apart).
        let rss = Infinity;
        let heap = Infinity;
        let metrics: Awaited<ReturnType<typeof scrapeLocalMetrics>> | undefined;
        for (;;) {
          metrics = await scrapeLocalMetrics(inference!.metricsPort);
          rss = Math.min(rss, sampleValue(metrics, 'process_resident_memory_bytes'));
          heap = Math.min(heap, sampleValue(metrics, 'nodejs_heap_size_used_bytes'));
          const wait = Math.min(POLL_MS, next - performance.now());
          if (wait <= 0) break;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
        const trainingMetrics = await scrapeLocalMetrics(trainingMetricsPort);
        const sample: Sample = {
          atS: (performance.now() - started) / 1000,
          rss,
          heap,
          tensors: sampleValue(metrics, 'rnas_tfjs_tensors'),
          loaded: loadedVersions(metrics),
          trainingRss: sampleValue(trainingMetrics, 'process_resident_memory_bytes'),
          ok,
          shed,
          versions: published,
        };
        samples.push(sample);
        process.stdout.write(
          `${sample.atS.toFixed(0).padStart(5)} s: RSS ${(sample.rss / MiB).toFixed(1)} MiB, heap ${(sample.heap / MiB).toFixed(1)} MiB, ` +
            `${sample.tensors} tensors (${sample.loaded} versions held); training RSS ${(sample.trainingRss / MiB).toFixed(1)} MiB; ${ok} calls ok, ${shed} shed, ${published} versions published\n`,
        );
      }
    })();

    await Promise.all([...clients, sampling]);
    await trainings;
    classify.close();
    trainer.close();

    // The first and the last minute after the warm-up are compared by their medians: one sample
    // against another says where the allocator and the collector happened to be (the RSS floor
    // moves by 50 MiB within a minute here); a leak moves the whole window.
    const reference = samples.findIndex((s) => s.atS >= options.warmupS);
    const endS = samples.length > 0 ? samples[samples.length - 1].atS : 0;
    const firstWindow = samples.filter((s) => s.atS >= options.warmupS && s.atS < options.warmupS + WINDOW_S);
    const lastWindow = samples.filter((s) => s.atS > endS - WINDOW_S && s.atS >= options.warmupS + WINDOW_S);
    process.stdout.write(`\n${table(samples, reference)}\n\n`);
    const failures: string[] = [];
    if (firstWindow.length === 0 || lastWindow.length === 0) {
      failures.push(
        `too few samples to compare the first and the last ${WINDOW_S} s after the warm-up (lengthen --duration-s)`,
      );
    } else {
      const span = (w: readonly Sample[]): string =>
        `${w[0].atS.toFixed(0)}-${w[w.length - 1].atS.toFixed(0)} s`;
      for (const [name, read] of [
        ['RSS', (x: Sample) => x.rss],
        ['JS heap', (x: Sample) => x.heap],
        ['tfjs tensors per version held', tensorsPerVersion],
      ] as const) {
        const first = median(firstWindow.map(read));
        const last = median(lastWindow.map(read));
        const growth = last / first - 1;
        const line =
          `${name}: median ${first.toFixed(0)} over ${span(firstWindow)}, ` +
          `${last.toFixed(0)} over ${span(lastWindow)} (${(100 * growth).toFixed(1)}%)`;
        process.stdout.write(`${line}\n`);
        if (growth > GROWTH_LIMIT)
          failures.push(`${line}: more than ${100 * GROWTH_LIMIT}% above the reference`);
      }
    }
    if (published === 0) failures.push('no version was published');
    for (const [what, count] of errors) failures.push(`${count} x ${what}`);
    const cpu = cpus();
    process.stdout.write(
      `calls: ${ok} ok, ${shed} RESOURCE_EXHAUSTED, ${[...errors.values()].reduce((a, b) => a + b, 0)} other errors; ` +
        `${published} versions published\n` +
        `machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
        `Node ${process.version}, backend ${backend.name}; load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end\n`,
    );
    if (failures.length > 0) {
      process.stdout.write(`soak: FAILED\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
      return 1;
    }
    process.stdout.write('soak: passed\n');
    return 0;
  } finally {
    if (inference) await stopServer(inference);
    if (training) {
      training.child.kill('SIGTERM');
      await training.exited;
    }
    await rm(root, { recursive: true, force: true });
  }
}

benchmarkMain(soak);
