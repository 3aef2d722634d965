import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatcherObserver } from './batcher';

/** Latency buckets from 1 ms to 10 s: a tiny model answers in milliseconds, a loaded queue in seconds. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch sizes up to the largest --max-batch-size. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

type VersionLabels = 'model' | 'version';

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

  constructor(registry: Registry) {
    const registers = [registry];
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
      },
    };
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
    ]) {
      metric.remove(labels);
    }
  }
}
