import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatcherObserver } from './batcher';
import type { RequestTiming } from './handlers';

/** Latency buckets from 1 ms to 10 s: a tiny model answers in milliseconds, a loaded queue in seconds. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch sizes up to the largest --max-batch-size. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

type VersionLabels = 'model' | 'version';

/** A count and a total duration in nanoseconds, as Triton's StatisticDuration. */
export interface DurationStat {
  count: number;
  ns: number;
}

/** What Triton's ModelStatistics reports of one model version, since it loaded. */
export interface VersionStatistics {
  /** Unix milliseconds of the last request; 0 before the first. */
  lastInference: number;
  /** Images inferred. */
  inferenceCount: number;
  /** Forward passes run. */
  executionCount: number;
  success: DurationStat;
  fail: DurationStat;
  queue: DurationStat;
  computeInput: DurationStat;
  computeInfer: DurationStat;
  computeOutput: DurationStat;
  /** By batch size: forward passes and their compute time. */
  batches: Map<number, DurationStat>;
}

function newStatistics(): VersionStatistics {
  const zero = (): DurationStat => ({ count: 0, ns: 0 });
  return {
    lastInference: 0,
    inferenceCount: 0,
    executionCount: 0,
    success: zero(),
    fail: zero(),
    queue: zero(),
    computeInput: zero(),
    computeInfer: zero(),
    computeOutput: zero(),
    batches: new Map(),
  };
}

/** Triton's failure reasons: the values of nv_inference_request_failure's `reason`. */
const FAILURE_REASONS = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'] as const;

/** Triton's failure reason (nv_inference_request_failure's `reason`) by gRPC status name. */
function failureReason(code: string): string {
  if (code === 'RESOURCE_EXHAUSTED' || code === 'UNAVAILABLE') return 'REJECTED';
  if (code === 'CANCELLED' || code === 'DEADLINE_EXCEEDED') return 'CANCELED';
  if (code === 'UNKNOWN' || code === 'INTERNAL') return 'BACKEND';
  return 'OTHER';
}

function addNs(stat: DurationStat, ms: number): void {
  stat.count++;
  stat.ns += Math.round(ms * 1e6);
}

/** Triton's series (nv_inference_*), so that Triton's dashboards work on this service unchanged. */
class TritonSeries {
  readonly success: Counter<VersionLabels>;
  readonly failure: Counter<VersionLabels | 'reason'>;
  readonly count: Counter<VersionLabels>;
  readonly execCount: Counter<VersionLabels>;
  readonly requestUs: Counter<VersionLabels>;
  readonly queueUs: Counter<VersionLabels>;
  readonly inputUs: Counter<VersionLabels>;
  readonly inferUs: Counter<VersionLabels>;
  readonly outputUs: Counter<VersionLabels>;

  constructor(registers: Registry[]) {
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
      new Counter({ name, help, labelNames, registers });
    const labels: VersionLabels[] = ['model', 'version'];
    this.success = counter(
      'nv_inference_request_success',
      'Number of successful inference requests, all batch sizes',
      labels,
    );
    this.failure = counter(
      'nv_inference_request_failure',
      'Number of failed inference requests, all batch sizes',
      [...labels, 'reason'],
    );
    this.count = counter(
      'nv_inference_count',
      'Number of inferences performed (does not include cached requests)',
      labels,
    );
    this.execCount = counter(
      'nv_inference_exec_count',
      'Number of model executions performed (does not include cached requests)',
      labels,
    );
    this.requestUs = counter(
      'nv_inference_request_duration_us',
      'Cumulative inference request duration in microseconds (includes cached requests)',
      labels,
    );
    this.queueUs = counter(
      'nv_inference_queue_duration_us',
      'Cumulative inference queuing duration in microseconds (includes cached requests)',
      labels,
    );
    this.inputUs = counter(
      'nv_inference_compute_input_duration_us',
      'Cumulative compute input duration in microseconds (does not include cached requests)',
      labels,
    );
    this.inferUs = counter(
      'nv_inference_compute_infer_duration_us',
      'Cumulative compute inference duration in microseconds (does not include cached requests)',
      labels,
    );
    this.outputUs = counter(
      'nv_inference_compute_output_duration_us',
      'Cumulative inference compute output duration in microseconds (does not include cached requests)',
      labels,
    );
  }

  all(): Counter<string>[] {
    return [
      this.success,
      this.failure,
      this.count,
      this.execCount,
      this.requestUs,
      this.queueUs,
      this.inputUs,
      this.inferUs,
      this.outputUs,
    ];
  }
}

/**
 * The inference domain series, on the server's registry. Model and version labels come only from
 * the repository (never from a request), so a client cannot create series by sending names.
 */
export class InferenceMetrics {
  readonly requests: Counter<VersionLabels | 'code'>;
  readonly requestSeconds: Histogram<VersionLabels>;
  readonly images: Counter<VersionLabels>;
  readonly preprocessSeconds: Histogram<VersionLabels>;
  readonly queueSeconds: Histogram<VersionLabels>;
  readonly computeSeconds: Histogram<VersionLabels>;
  readonly batchSize: Histogram<VersionLabels>;
  readonly queueDepth: Gauge<VersionLabels>;
  readonly versions: Gauge<'state'>;
  readonly modelsLoaded: Gauge;
  readonly loadFailures: Counter<'model'>;
  readonly loadSeconds: Histogram<'model'>;
  readonly triton: TritonSeries;
  private readonly statistics = new Map<string, VersionStatistics>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.triton = new TritonSeries(registers);
    this.requests = new Counter({
      name: 'rnas_inference_requests_total',
      help: 'Classify requests that reached a model version, by status code.',
      labelNames: ['model', 'version', 'code'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'rnas_inference_request_duration_seconds',
      help: 'Classify latency from the request to the answer: preprocessing, queue and compute.',
      labelNames: ['model', 'version'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.images = new Counter({
      name: 'rnas_inference_images_total',
      help: 'Images classified.',
      labelNames: ['model', 'version'],
      registers,
    });
    this.preprocessSeconds = new Histogram({
      name: 'rnas_inference_preprocess_duration_seconds',
      help: 'Time to decode, resize and normalise the images of one request.',
      labelNames: ['model', 'version'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.queueSeconds = new Histogram({
      name: 'rnas_inference_queue_duration_seconds',
      help: 'Time a request waited in the batching queue.',
      labelNames: ['model', 'version'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.computeSeconds = new Histogram({
      name: 'rnas_inference_compute_duration_seconds',
      help: 'Time of one batched forward pass.',
      labelNames: ['model', 'version'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'rnas_inference_batch_size',
      help: 'Images per forward pass.',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'rnas_inference_queue_depth',
      help: 'Requests admitted and not yet computed (decoding or queued).',
      labelNames: ['model', 'version'],
      registers,
    });
    this.versions = new Gauge({
      name: 'rnas_inference_model_versions',
      help: 'Model versions in the repository, by load state.',
      labelNames: ['state'],
      registers,
    });
    this.modelsLoaded = new Gauge({
      name: 'rnas_inference_models_loaded',
      help: 'Models with at least one version ready to serve.',
      registers,
    });
    this.loadFailures = new Counter({
      name: 'rnas_inference_model_load_failures_total',
      help: 'Model versions that failed to load or warm up.',
      labelNames: ['model'],
      registers,
    });
    this.loadSeconds = new Histogram({
      name: 'rnas_inference_model_load_duration_seconds',
      help: 'Time to read, validate, load and warm up one model version.',
      labelNames: ['model'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    for (const state of ['loading', 'ready', 'failed']) this.versions.set({ state }, 0);
    this.modelsLoaded.set(0);
  }

  /** The batcher hooks of one model version. */
  batcherObserver(model: string, version: number): BatcherObserver {
    const labels = { model, version: String(version) };
    return {
      queueDepth: (depth) => this.queueDepth.set(labels, depth),
      queued: (seconds) => this.queueSeconds.observe(labels, seconds),
      batch: (size, seconds) => {
        this.batchSize.observe(labels, size);
        this.computeSeconds.observe(labels, seconds);
        this.triton.execCount.inc(labels);
        const stats = this.versionStatistics(model, version);
        stats.executionCount++;
        let batch = stats.batches.get(size);
        if (!batch) {
          batch = { count: 0, ns: 0 };
          stats.batches.set(size, batch);
        }
        addNs(batch, seconds * 1000);
      },
    };
  }

  /** A request that a model version answered: `images` inferences, and where its time went. */
  requestSucceeded(
    model: string,
    version: number,
    images: number,
    totalMs: number,
    timing: RequestTiming,
  ): void {
    const labels = { model, version: String(version) };
    // Whatever is not input, queue or forward pass is output: the records made into the answer.
    const outputMs = Math.max(0, totalMs - timing.inputMs - timing.queueMs - timing.computeMs);
    const us = (ms: number): number => Math.round(ms * 1000);
    this.triton.success.inc(labels);
    this.triton.count.inc(labels, images);
    this.triton.requestUs.inc(labels, us(totalMs));
    this.triton.queueUs.inc(labels, us(timing.queueMs));
    this.triton.inputUs.inc(labels, us(timing.inputMs));
    this.triton.inferUs.inc(labels, us(timing.computeMs));
    this.triton.outputUs.inc(labels, us(outputMs));
    const stats = this.versionStatistics(model, version);
    stats.lastInference = Date.now();
    stats.inferenceCount += images;
    addNs(stats.success, totalMs);
    addNs(stats.queue, timing.queueMs);
    addNs(stats.computeInput, timing.inputMs);
    addNs(stats.computeInfer, timing.computeMs);
    addNs(stats.computeOutput, outputMs);
  }

  /** A request that reached a model version and failed with the status `code`. */
  requestFailed(model: string, version: number, code: string, totalMs: number): void {
    this.triton.failure.inc({ model, version: String(version), reason: failureReason(code) });
    const stats = this.versionStatistics(model, version);
    stats.lastInference = Date.now();
    addNs(stats.fail, totalMs);
  }

  /** The statistics of a model version since it loaded (zeros before its first request). */
  versionStatistics(model: string, version: number): VersionStatistics {
    const key = `${model}/${version}`;
    let stats = this.statistics.get(key);
    if (!stats) {
      stats = newStatistics();
      this.statistics.set(key, stats);
    }
    return stats;
  }

  /** Drops the series of an unloaded version so that a removed version stops being reported. */
  forgetVersion(model: string, version: number): void {
    const labels = { model, version: String(version) };
    for (const metric of [
      this.requestSeconds,
      this.images,
      this.preprocessSeconds,
      this.queueSeconds,
      this.computeSeconds,
      this.batchSize,
      this.queueDepth,
      ...this.triton.all().filter((metric) => metric !== this.triton.failure),
    ]) {
      metric.remove(labels);
    }
    for (const reason of FAILURE_REASONS) this.triton.failure.remove({ ...labels, reason });
    this.statistics.delete(`${model}/${version}`);
  }
}
