// Load benchmark of Classify and of the Open Inference Protocol's ModelInfer: the service runs in
// its own process (as deployed) and this process drives it with 1, 4, 16 and 64 concurrent Classify
// clients, with dynamic batching on and then off, and with 1, 16 and 64 ModelInfer clients (PNG as
// BYTES, and the preprocessed FP32 tensor) with batching on, and measures the in-process throughput
// of the same model at the same batch sizes for comparison.
// Writes the "Serving" section of docs/benchmarks.md.
// Run: `npx tsc -b && node bench/dist/serve.js [--seconds S] [--quick] [--no-write]`.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend, littleEndianBytes } from '@rnas/engine';
import {
  loadModel,
  normalizePixels,
  publishModel,
  syntheticArtifact,
  type Model,
  type Preprocessing,
  type SyntheticModelOptions,
} from '@rnas/model';
import { createClient, sampleValue, scrapeLocalMetrics } from '@rnas/grpc';
import { decodeImage, forwardProbabilities, joinBytesElements } from '@rnas/inference';
import { GRPCInferenceServiceService, InferenceServiceService, type ModelInferRequest } from '@rnas/proto';
import { BENCHMARKS_DOC, writeDocSection } from './docs-section';
import { benchmarkMain, startServer, stopServer, type RunningServer } from './inference-process';
import { percentile, ratio, resultsTable, type LoadResult } from './serve-report';

const CLIENTS = [1, 4, 16, 64];
/** ModelInfer rows: with dynamic batching (the default) only. */
const OIP_CLIENTS = [1, 16, 64];
const MAX_BATCH = 64;
const MODEL = 'bench';
/**
 * A Fashion-MNIST evaluation network: 28x28 grayscale, 10 classes, 8 cells of 16 channels (the
 * search network's size). Much smaller networks measure gRPC and PNG decoding rather than serving:
 * the CPU columns of the table show that per-call cost.
 */
const BENCH_MODEL: SyntheticModelOptions = {
  channels: 16,
  layers: 8,
  inputSize: 28,
  inChannels: 1,
  classes: 10,
};
/** Classify at 16 clients against in-process throughput: issue 15's target (80% before it). */
const TARGET = 0.9;

interface Options {
  seconds: number;
  write: boolean;
  doc: string;
}

const USAGE = `usage: node bench/dist/serve.js [--seconds S] [--quick] [--no-write] [--doc PATH]
  --seconds S  measuring time per configuration (default 5; a warm-up of S/5 comes first)
  --quick      1 second per configuration: checks that the benchmark runs, numbers are rough
  --no-write   print the table only; leave docs/benchmarks.md alone
  --doc PATH   the markdown file to update (default: docs/benchmarks.md of the repository)`;

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    seconds: 5,
    write: true,
    doc: BENCHMARKS_DOC,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.seconds = 1;
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

/** Forward passes at `batch` for `seconds`: images done and seconds taken. */
function inProcessSlice(model: Model, batch: number, seconds: number): { images: number; elapsed: number } {
  const { inputHeight, inputWidth, channels } = model.preprocessing;
  const input = new Float32Array(batch * inputHeight * inputWidth * channels).map((_, i) => Math.sin(i));
  let images = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    forwardProbabilities(model, input, batch);
    images += batch;
  }
  return { images, elapsed: (performance.now() - started) / 1000 };
}

/** The images decoded and normalised as the service does: what a client sends as FP32 tensors. */
async function benchTensors(images: readonly Buffer[], pre: Preprocessing): Promise<Float32Array[]> {
  const shape = { height: pre.inputHeight, width: pre.inputWidth, channels: pre.channels };
  return Promise.all(
    images.map(async (bytes) => normalizePixels(pre, await decodeImage(bytes, 'image', shape, 1e9), 1)),
  );
}

/** Distinct PNGs of the model's size, as a client would send them. */
async function benchImages(count: number, side: number): Promise<Buffer[]> {
  const images: Buffer[] = [];
  let x = 12345;
  for (let n = 0; n < count; n++) {
    const pixels = Buffer.alloc(side * side);
    for (let i = 0; i < pixels.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      pixels[i] = x >>> 24;
    }
    images.push(
      await sharp(pixels, { raw: { width: side, height: side, channels: 1 } })
        .png()
        .toBuffer(),
    );
  }
  return images;
}

/** One call of one image (the i-th of the benchmark's), as a client makes it. */
type Call = (i: number) => Promise<unknown>;

/** `clients` loops, each making one call at a time, for `seconds`; latencies of the OK calls. */
async function drive(
  call: Call,
  clients: number,
  seconds: number,
): Promise<{ ok: number; errors: number; latencies: number[]; elapsed: number; lastError?: string }> {
  const latencies: number[] = [];
  let errors = 0;
  let lastError: string | undefined;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      for (let i = worker; performance.now() < end; i += clients) {
        const sent = performance.now();
        try {
          await call(i);
          latencies.push(performance.now() - sent);
        } catch (error) {
          errors++;
          lastError = (error as Error).message;
        }
      }
    }),
  );
  return {
    ok: latencies.length,
    errors,
    latencies,
    elapsed: (performance.now() - started) / 1000,
    lastError,
  };
}

/** The RPCs the benchmark drives: Classify, and the Open Inference Protocol's ModelInfer two ways. */
function calls(
  port: number,
  images: readonly Buffer[],
  tensors: readonly Float32Array[],
): {
  rpcs: { rpc: string; call: Call; clients: readonly number[]; batchingOff: boolean }[];
  close(): void;
} {
  const classic = createClient(InferenceServiceService, `127.0.0.1:${port}`);
  const oip = createClient(GRPCInferenceServiceService, `127.0.0.1:${port}`);
  const options = { deadlineMs: 60_000 };
  const infer = (input: ModelInferRequest['inputs'][number], raw: Buffer): Promise<unknown> =>
    oip.modelInfer(
      {
        modelName: MODEL,
        modelVersion: '',
        id: '',
        parameters: {},
        inputs: [input],
        outputs: [],
        rawInputContents: [raw],
      },
      options,
    );
  const { inputSize = 28, inChannels = 1 } = BENCH_MODEL;
  return {
    rpcs: [
      {
        rpc: 'Classify',
        clients: CLIENTS,
        batchingOff: true,
        call: (i) =>
          classic.classify(
            {
              modelName: MODEL,
              topK: 1,
              input: { $case: 'images', value: { images: [images[i % images.length]] } },
            },
            options,
          ),
      },
      {
        rpc: 'ModelInfer BYTES',
        clients: OIP_CLIENTS,
        batchingOff: false,
        call: (i) =>
          infer(
            { name: 'images', datatype: 'BYTES', shape: [1], parameters: {}, contents: undefined },
            joinBytesElements([images[i % images.length]]),
          ),
      },
      {
        rpc: 'ModelInfer FP32',
        clients: OIP_CLIENTS,
        batchingOff: false,
        call: (i) => {
          const t = tensors[i % tensors.length];
          return infer(
            {
              name: 'input',
              datatype: 'FP32',
              shape: [1, inputSize, inputSize, inChannels],
              parameters: {},
              contents: undefined,
            },
            littleEndianBytes(t),
          );
        },
      },
    ],
    close: () => {
      classic.close();
      oip.close();
    },
  };
}

/**
 * The service under 1, 4, 16 and 64 clients. The machine may be shared, so each measurement is
 * cut in one-second slices that alternate with slices of in-process forward passes at the same
 * batch size: both see the same conditions.
 */
async function measureService(
  server: RunningServer,
  batching: boolean,
  seconds: number,
  images: readonly Buffer[],
  tensors: readonly Float32Array[],
  model: Model,
): Promise<LoadResult[]> {
  const { rpcs, close } = calls(server.port, images, tensors);
  const results: LoadResult[] = [];
  const count = `rnas_inference_batch_size_count{model="${MODEL}",version="1"}`;
  const sum = `rnas_inference_batch_size_sum{model="${MODEL}",version="1"}`;
  const slices = Math.max(1, Math.round(seconds));
  try {
    for (const { rpc, call, clients: counts, batchingOff } of rpcs) {
      if (!batching && !batchingOff) continue;
      for (const clients of counts) {
        await drive(call, clients, seconds / 5);
        inProcessSlice(model, clients, seconds / 5);
        const before = await scrapeLocalMetrics(server.metricsPort);
        const latencies: number[] = [];
        let ok = 0;
        let errors = 0;
        let elapsed = 0;
        let lastError: string | undefined;
        let local = { images: 0, elapsed: 0 };
        let clientCpu = 0;
        let serverCpu = 0;
        for (let slice = 0; slice < slices; slice++) {
          const forward = inProcessSlice(model, clients, seconds / slices);
          local = { images: local.images + forward.images, elapsed: local.elapsed + forward.elapsed };
          const cpuBefore = process.cpuUsage();
          const serverBefore = sampleValue(
            await scrapeLocalMetrics(server.metricsPort),
            'process_cpu_seconds_total',
          );
          const run = await drive(call, clients, seconds / slices);
          const cpu = process.cpuUsage(cpuBefore);
          clientCpu += (cpu.user + cpu.system) / 1000;
          serverCpu +=
            1000 *
            (sampleValue(await scrapeLocalMetrics(server.metricsPort), 'process_cpu_seconds_total') -
              serverBefore);
          latencies.push(...run.latencies);
          ok += run.ok;
          errors += run.errors;
          elapsed += run.elapsed;
          lastError = run.lastError ?? lastError;
        }
        const after = await scrapeLocalMetrics(server.metricsPort);
        const sorted = latencies.sort((a, b) => a - b);
        const result: LoadResult = {
          rpc,
          clients,
          batching,
          throughput: ok / elapsed,
          p50: percentile(sorted, 50),
          p95: percentile(sorted, 95),
          p99: percentile(sorted, 99),
          errors,
          meanBatch:
            (sampleValue(after, sum) - sampleValue(before, sum)) /
            (sampleValue(after, count) - sampleValue(before, count)),
          inProcess: local.images / local.elapsed,
          serverCpuMs: serverCpu / ok,
          clientCpuMs: clientCpu / ok,
        };
        results.push(result);
        process.stdout.write(
          `${rpc}, batching ${batching ? 'on ' : 'off'}, ${String(clients).padStart(2)} clients: ` +
            `${result.throughput.toFixed(1)} images/s (in process at batch ${clients}: ${result.inProcess.toFixed(1)}), ` +
            `p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, mean batch ${result.meanBatch.toFixed(1)}` +
            `${errors > 0 ? `, ${errors} errors (${lastError})` : ''}\n`,
        );
      }
    }
  } finally {
    close();
  }
  return results;
}

async function bench(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  const backend = await initBackend();
  const loadBefore = loadavg()[0];
  const started = performance.now();
  const root = await mkdtemp(path.join(tmpdir(), 'rnas-bench-serve-'));
  try {
    const artifact = syntheticArtifact(BENCH_MODEL);
    const repo = path.join(root, 'models');
    await publishModel(repo, MODEL, artifact);
    const images = await benchImages(16, BENCH_MODEL.inputSize ?? 28);
    const tensors = await benchTensors(images, artifact.preprocessing);

    const model = loadModel(artifact);
    const results: LoadResult[] = [];
    for (const batching of [true, false]) {
      const flags = [
        ...['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--log-level', 'info'],
        ...['--model-repo', repo],
        ...['--max-batch-size', String(MAX_BATCH), '--max-queue-size', '1024'],
        ...['--dynamic-batching', batching ? 'on' : 'off'],
      ];
      const server = await startServer(__filename, flags, backend);
      try {
        results.push(...(await measureService(server, batching, options.seconds, images, tensors, model)));
      } finally {
        await stopServer(server);
      }
    }
    model.dispose();

    const table = resultsTable(results);
    const at16 = results.find((r) => r.rpc === 'Classify' && r.batching && r.clients === 16);
    const achieved = at16 ? ratio(at16.throughput, at16.inProcess) : NaN;
    const verdict = `With dynamic batching, 16 clients reach ${(100 * achieved).toFixed(0)}% of the in-process throughput at batch 16 (target ${100 * TARGET}%): ${achieved >= TARGET ? 'met' : 'NOT met'}.`;
    process.stdout.write(`\n${table}\n\n${verdict}\n`);
    const cpu = cpus();
    const minutes = (performance.now() - started) / 60_000;
    const body = [
      `Command: \`npx tsc -b && node bench/dist/serve.js${argv.length > 0 ? ` ${argv.join(' ')}` : ''}\` (about ${minutes.toFixed(1)} min).`,
      `Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
        `backend ${backend.name} (tfjs '${backend.tfBackend}'); load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end; ${new Date().toISOString().slice(0, 10)}.`,
      '',
      `Model: a freshly initialised CIFAR-family network of DARTS_V2 cells, ${BENCH_MODEL.layers} cells x ${BENCH_MODEL.channels} channels, ` +
        `${BENCH_MODEL.inputSize}x${BENCH_MODEL.inputSize}x${BENCH_MODEL.inChannels} input, ${BENCH_MODEL.classes} classes (a Fashion-MNIST evaluation network). ` +
        'The service runs in its own process (`--max-batch-size 64`, `--max-queue-delay-ms 0`, the default); one client process ' +
        'drives it over one HTTP/2 connection, each client sending one 28x28 PNG per Classify call (decoded, resized and normalised by ' +
        `the service) and the next as soon as the answer arrives, for ${options.seconds} s after a warm-up of ${options.seconds / 5} s. ` +
        'The ModelInfer rows do the same through the Open Inference Protocol (`inference.GRPCInferenceService` on the same port and ' +
        'batcher), raw inputs: `ModelInfer BYTES` sends the PNG as the `images` input (one length-prefixed element), `ModelInfer FP32` ' +
        'the preprocessed image as the `input` tensor, 28x28x1 little-endian floats (no decoding on the server); both answer ' +
        'logits and probabilities as raw outputs. ' +
        '"In-process" is forward passes (and softmax) of the same model in the benchmark\'s own thread at a batch size equal to ' +
        "the client count, without gRPC or image decoding, measured in one-second slices that alternate with the service's " +
        '(the machine is shared: both see the same conditions); "mean batch" is images per forward pass from the service\'s ' +
        '`rnas_inference_batch_size` histogram. The CPU columns are CPU time per call of the service process (every ' +
        'thread: gRPC, decoding, the compute worker) and of the client process: on a machine with few cores, what the ' +
        "client and the service spend outside the forward pass comes out of the compute worker's share, which the " +
        'in-process loop does not pay.',
      '',
      table,
      '',
      verdict,
    ].join('\n');
    if (options.write) {
      await writeDocSection('Serving', body, options.doc);
      process.stdout.write(`wrote the Serving section of ${options.doc}\n`);
    }
    return 0;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

benchmarkMain(bench);
