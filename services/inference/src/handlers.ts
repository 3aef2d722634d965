import { status } from '@grpc/grpc-js';
import {
  DomainError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  type CallContext,
  type ServiceHandlers,
} from '@rnas/grpc';
import type {
  ClassifyRequest,
  ClassifyResponse,
  DetectResponse,
  GetModelRequest,
  GetModelResponse,
  InferenceServiceService,
  ListModelsResponse,
} from '@rnas/proto';
import { normalizePixels } from '@rnas/model';
import {
  checkImageCount,
  checkModelName,
  checkVersion,
  resolveTopK,
  tensorInput,
  topClasses,
} from './classify-input';
import type { InferenceMetrics } from './metrics';
import { modelToProto } from './model-proto';
import { decodeImage } from './preprocess';
import type { ModelRepository } from './repository';
import type { ServedModel } from './served-model';

export interface HandlerOptions {
  maxBatchSize: number;
  maxImagePixels: number;
}

/** The status name of what a request failed with, for the request counter. */
function codeOf(error: unknown): string {
  if (error instanceof DomainError) return status[error.code];
  if (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError') {
    return 'CANCELLED';
  }
  return 'UNKNOWN';
}

/** The InferenceService: handlers only validate, delegate and throw domain errors. */
export class InferenceHandlers implements ServiceHandlers<typeof InferenceServiceService> {
  constructor(
    private readonly repository: ModelRepository,
    private readonly options: HandlerOptions,
    private readonly metrics?: InferenceMetrics,
  ) {}

  async classify(request: ClassifyRequest, context: CallContext): Promise<ClassifyResponse> {
    const started = performance.now();
    const served = this.repository.resolve(checkModelName(request.modelName), checkVersion(request.version));
    const labels = { model: served.name, version: String(served.version) };
    try {
      const response = await this.run(served, request, context);
      this.metrics?.requests.inc({ ...labels, code: 'OK' });
      this.metrics?.requestSeconds.observe(labels, (performance.now() - started) / 1000);
      this.metrics?.images.inc(labels, response.classifications.length);
      return response;
    } catch (error) {
      this.metrics?.requests.inc({ ...labels, code: codeOf(error) });
      throw error;
    }
  }

  detect(): DetectResponse {
    // Replaced by the detection task's handler in this same change (issue 11).
    throw new FailedPreconditionError('Detect: no detection models are served yet');
  }

  listModels(): ListModelsResponse {
    return { models: this.repository.list().map((model) => modelToProto(model, { labels: false })) };
  }

  getModel(request: GetModelRequest): GetModelResponse {
    const model = this.repository.get(checkModelName(request.modelName));
    if (!model) throw new NotFoundError('model', request.modelName);
    return { model: modelToProto(model, { labels: true }) };
  }

  private async run(
    served: ServedModel,
    request: ClassifyRequest,
    context: CallContext,
  ): Promise<ClassifyResponse> {
    const { maxBatchSize } = this.options;
    const k = resolveTopK(request.topK, served.classes);
    const input = request.input;
    let n: number;
    let tensor: Float32Array | undefined;
    if (input === undefined) {
      throw new InvalidArgumentError(
        'input',
        input,
        'set images (encoded JPEG, PNG or WebP) or tensor (preprocessed NHWC floats)',
      );
    } else if (input.$case === 'images') {
      n = input.value.images.length;
      checkImageCount(n, maxBatchSize);
    } else {
      ({ values: tensor, n } = tensorInput(input.value, served.inputShape, maxBatchSize));
    }
    // The place in the queue comes before decoding: a full queue refuses without spending CPU.
    const slot = served.batcher.admit(context.signal);
    let values: Float32Array;
    try {
      values = tensor ?? (await this.decode(served, input.$case === 'images' ? input.value.images : []));
      if (context.signal.aborted) throw context.signal.reason;
    } catch (error) {
      slot.release();
      throw error;
    }
    const probabilities = await slot.submit(values, n);
    return {
      modelName: served.name,
      version: served.version,
      classifications: topClasses(probabilities, n, served.labels, k),
    };
  }

  /** Decodes every image (in parallel on libuv's pool); the first bad one by index is reported. */
  private async decode(served: ServedModel, images: readonly Buffer[]): Promise<Float32Array> {
    const started = performance.now();
    const { height, width, channels } = served.inputShape;
    const size = height * width * channels;
    const pixels = new Uint8Array(images.length * size);
    const results = await Promise.allSettled(
      images.map(async (bytes, i) => {
        pixels.set(
          await decodeImage(bytes, `images.images[${i}]`, served.inputShape, this.options.maxImagePixels),
          i * size,
        );
      }),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const values = normalizePixels(served.preprocessing, pixels, images.length);
    this.metrics?.preprocessSeconds.observe(
      { model: served.name, version: String(served.version) },
      (performance.now() - started) / 1000,
    );
    return values;
  }
}
