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
  DetectRequest,
  DetectResponse,
  EstimatePoseRequest,
  EstimatePoseResponse,
  SegmentRequest,
  SegmentResponse,
  GetModelRequest,
  GetModelResponse,
  InferenceServiceService,
  ListModelsResponse,
} from '@rnas/proto';
import { normalizePixels } from '@rnas/model';
import {
  checkFiniteRecords,
  checkImageCount,
  checkModelName,
  checkVersion,
  resolveTopK,
  tensorInput,
  topClasses,
} from './classify-input';
import type { BatchTiming } from './batcher';
import type { InferenceMetrics } from './metrics';
import { modelToProto } from './model-proto';
import { decodeFullImage, decodeImage, imageSize, type ImageFit } from './preprocess';
import { imageDetections, resolveDetectOptions } from './detect-input';
import { imageSegmentations, resolveLabelMapEncoding } from './segment-output';
import { checkPersonBoxes, imagePeople, imagePoses, personCrop, type PersonSlot } from './pose-input';
import type { KeypointConfig, TaskName } from '@rnas/tasks';
import type { ModelRepository } from './repository';
import type { ServedModel } from './served-model';

/** An image's width and height in pixels. */
export interface ImageSize {
  width: number;
  height: number;
}

/** Where a request's time went: its input's preparation (decoding), then the batcher's part. */
export interface RequestTiming extends BatchTiming {
  inputMs: number;
}

/** Input checked against the model and the batch size, ready for the batcher. */
export type CheckedInput =
  | {
      kind: 'images';
      /** Encoded images, decoded and preprocessed as Classify's. */
      images: readonly Buffer[];
      /** How errors name image i (`images.images[2]`). */
      field: (i: number) => string;
    }
  | { kind: 'tensor'; values: Float32Array; n: number };

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

  classify(request: ClassifyRequest, context: CallContext): Promise<ClassifyResponse> {
    return this.measured(this.version(request.modelName, request.version), async (served, timing) => {
      requireTask(served, 'classification');
      const k = resolveTopK(request.topK, served.classes);
      const { output, n } = await this.infer(served, request.input, context, 'cover', timing);
      checkFiniteRecords(output, n, served.classes, (i) =>
        request.input?.$case === 'tensor' ? 'tensor.values' : `images.images[${i}]`,
      );
      return {
        images: n,
        response: {
          modelName: served.name,
          version: served.version,
          classifications: topClasses(output, n, served.labels, k),
        },
      };
    });
  }

  detect(request: DetectRequest, context: CallContext): Promise<DetectResponse> {
    return this.measured(this.version(request.modelName, request.version), async (served, timing) => {
      requireTask(served, 'detection');
      const options = resolveDetectOptions(request, served.labels);
      const { output, n, sizes } = await this.infer(served, request.input, context, 'fill', timing);
      return {
        images: n,
        response: {
          modelName: served.name,
          version: served.version,
          images: imageDetections(output, sizes, served.labels, options),
        },
      };
    });
  }

  segment(request: SegmentRequest, context: CallContext): Promise<SegmentResponse> {
    return this.measured(this.version(request.modelName, request.version), async (served, timing) => {
      requireTask(served, 'segmentation');
      const format = resolveLabelMapEncoding(request.encoding);
      const { output, n, sizes } = await this.infer(served, request.input, context, 'fill', timing);
      return {
        images: n,
        response: {
          modelName: served.name,
          version: served.version,
          images: imageSegmentations(output, served.inputShape, sizes, served.labels, format),
        },
      };
    });
  }

  estimatePose(request: EstimatePoseRequest, context: CallContext): Promise<EstimatePoseResponse> {
    return this.measured(this.version(request.modelName, request.version), async (served, timing) => {
      requireTask(served, 'keypoints');
      const config = keypointConfig(served);
      const images = request.images?.images ?? [];
      checkImageCount(images.length, this.options.maxBatchSize);
      const people = checkPersonBoxes(request.boxes, images.length, this.options.maxBatchSize);
      // As Classify: the place in the queue before any decoding.
      const slot = served.batcher.admit(context.signal);
      let crops: Awaited<ReturnType<InferenceHandlers['cropPeople']>>;
      try {
        const started = performance.now();
        crops = await this.cropPeople(served, images, request.boxes, people);
        timing.inputMs = performance.now() - started;
        if (context.signal.aborted) throw context.signal.reason;
      } catch (error) {
        slot.release();
        throw error;
      }
      // Every person of the request in one batch: the crops are already the network's input.
      const output = await slot.submit(crops.values, crops.people.length, timing);
      return {
        images: images.length,
        response: {
          modelName: served.name,
          version: served.version,
          images: imagePoses(output, crops.people, crops.sizes, config.keypointNames),
          skeleton: config.skeleton.flat(),
        },
      };
    });
  }

  listModels(): ListModelsResponse {
    return { models: this.repository.list().map((model) => modelToProto(model, { labels: false })) };
  }

  getModel(request: GetModelRequest): GetModelResponse {
    const model = this.repository.get(checkModelName(request.modelName));
    if (!model) throw new NotFoundError('model', request.modelName);
    return { model: modelToProto(model, { labels: true }) };
  }

  /**
   * Runs `work` on the model version `resolve` names, counting the request, its images and where
   * its time went (ours and Triton's series, and the version's statistics). A request that names
   * no servable version is not counted against any.
   */
  async measured<T>(
    resolve: () => ServedModel,
    work: (served: ServedModel, timing: RequestTiming) => Promise<{ response: T; images: number }>,
  ): Promise<T> {
    const started = performance.now();
    const served = resolve();
    const labels = { model: served.name, version: String(served.version) };
    const timing: RequestTiming = { inputMs: 0, queueMs: 0, computeMs: 0 };
    try {
      const { response, images } = await work(served, timing);
      const totalMs = performance.now() - started;
      this.metrics?.requests.inc({ ...labels, code: 'OK' });
      this.metrics?.requestSeconds.observe(labels, totalMs / 1000);
      this.metrics?.images.inc(labels, images);
      this.metrics?.requestSucceeded(served.name, served.version, images, totalMs, timing);
      return response;
    } catch (error) {
      this.metrics?.requests.inc({ ...labels, code: codeOf(error) });
      this.metrics?.requestFailed(served.name, served.version, codeOf(error), performance.now() - started);
      throw error;
    }
  }

  /** Resolves the version a relativenas.v1 request names (a number, or unset for the serving one). */
  private version(modelName: string, version: number | undefined): () => ServedModel {
    return () => this.repository.resolve(checkModelName(modelName), checkVersion(version));
  }

  /**
   * The model's serving records for a Classify-style input (images or an NHWC tensor), checked
   * against the model and the batch size: see `run`.
   */
  private async infer(
    served: ServedModel,
    input: ClassifyRequest['input'],
    context: CallContext,
    fit: ImageFit,
    timing: RequestTiming,
  ): Promise<{ output: Float32Array; n: number; sizes: ImageSize[] }> {
    const { maxBatchSize } = this.options;
    if (input === undefined) {
      throw new InvalidArgumentError(
        'input',
        input,
        'set images (encoded JPEG, PNG or WebP) or tensor (preprocessed NHWC floats)',
      );
    }
    if (input.$case === 'images') {
      checkImageCount(input.value.images.length, maxBatchSize);
      return this.run(
        served,
        { kind: 'images', images: input.value.images, field: (i) => `images.images[${i}]` },
        context,
        fit,
        timing,
      );
    }
    const { values, n } = tensorInput(input.value, served.inputShape, maxBatchSize);
    return this.run(served, { kind: 'tensor', values, n }, context, fit, timing);
  }

  /**
   * The model's serving records for checked input: admitted to the batcher before any image is
   * decoded, decoded to the input size (`fit`), batched and run. `sizes` are the images' own
   * sizes (the input size for a tensor). Every protocol's inference goes through here, so that
   * its requests share the model's queue and forward passes.
   */
  async run(
    served: ServedModel,
    input: CheckedInput,
    context: CallContext,
    fit: ImageFit,
    timing: RequestTiming,
  ): Promise<{ output: Float32Array; n: number; sizes: ImageSize[] }> {
    const n = input.kind === 'images' ? input.images.length : input.n;
    // The place in the queue comes before decoding: a full queue refuses without spending CPU.
    const slot = served.batcher.admit(context.signal);
    let values: Float32Array;
    let sizes: ImageSize[];
    try {
      if (input.kind === 'tensor') {
        values = input.values;
        sizes = Array.from({ length: n }, () => ({
          width: served.inputShape.width,
          height: served.inputShape.height,
        }));
      } else {
        const started = performance.now();
        ({ values, sizes } = await this.decode(served, input.images, input.field, fit));
        timing.inputMs = performance.now() - started;
      }
      if (context.signal.aborted) throw context.signal.reason;
    } catch (error) {
      slot.release();
      throw error;
    }
    return { output: await slot.submit(values, n, timing), n, sizes };
  }

  /**
   * Decodes every image at its own size (in parallel on libuv's pool), checks its boxes against
   * it and crops each person to the input size, normalised: the batch's input, person by person
   * in image order. The first bad image or box by image index is reported; an image's pixels are
   * dropped once its people are cropped.
   */
  private async cropPeople(
    served: ServedModel,
    images: readonly Buffer[],
    boxes: EstimatePoseRequest['boxes'],
    count: number,
  ): Promise<{ values: Float32Array; people: PersonSlot[]; sizes: { width: number; height: number }[] }> {
    const started = performance.now();
    const { height, width, channels } = served.inputShape;
    const size = height * width * channels;
    const pixels = new Uint8Array(count * size);
    // Each image's first person's place in the batch: the request's order whatever decodes first.
    const first: number[] = [];
    images.reduce((next, _, i) => {
      first.push(next);
      return next + Math.max(1, boxes[i]?.boxes.length ?? 0);
    }, 0);
    const people: PersonSlot[] = new Array<PersonSlot>(count);
    const sizes = images.map(() => ({ width: 0, height: 0 }));
    const results = await Promise.allSettled(
      images.map(async (bytes, i) => {
        const image = await decodeFullImage(
          bytes,
          `images.images[${i}]`,
          channels,
          this.options.maxImagePixels,
        );
        sizes[i] = { width: image.width, height: image.height };
        imagePeople(boxes[i], i, image.width, image.height).forEach((box, j) => {
          const crop = personCrop(image, channels, box, width, height);
          pixels.set(crop.pixels, (first[i] + j) * size);
          people[first[i] + j] = { image: i, box, inverse: crop.inverse };
        });
      }),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const values = normalizePixels(served.preprocessing, pixels, count);
    this.metrics?.preprocessSeconds.observe(
      { model: served.name, version: String(served.version) },
      (performance.now() - started) / 1000,
    );
    return { values, people, sizes };
  }

  /** Decodes every image (in parallel on libuv's pool); the first bad one by index is reported. */
  private async decode(
    served: ServedModel,
    images: readonly Buffer[],
    field: (i: number) => string,
    fit: ImageFit,
  ): Promise<{ values: Float32Array; sizes: ImageSize[] }> {
    const started = performance.now();
    const { height, width, channels } = served.inputShape;
    const size = height * width * channels;
    const pixels = new Uint8Array(images.length * size);
    const sizes = images.map(() => ({ width, height }));
    const results = await Promise.allSettled(
      images.map(async (bytes, i) => {
        pixels.set(
          await decodeImage(bytes, field(i), served.inputShape, this.options.maxImagePixels, fit),
          i * size,
        );
        // Boxes come back in the image's own pixels; the header was valid, the decode just read it.
        if (fit === 'fill') sizes[i] = await imageSize(bytes, field(i));
      }),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const values = normalizePixels(served.preprocessing, pixels, images.length);
    this.metrics?.preprocessSeconds.observe(
      { model: served.name, version: String(served.version) },
      (performance.now() - started) / 1000,
    );
    return { values, sizes };
  }
}

/** The RPC that serves each task. */
const TASK_RPCS: Record<TaskName, string> = {
  classification: 'Classify',
  detection: 'Detect',
  segmentation: 'Segment',
  keypoints: 'EstimatePose',
};

/** A model of another task is refused, naming the task and the RPC that serves it. */
function requireTask(served: ServedModel, task: TaskName): void {
  if (served.task.task === task) return;
  throw new FailedPreconditionError(
    `model ${served.name} version ${served.version} is a ${served.task.task} model: call ${TASK_RPCS[served.task.task]}`,
  );
}

/** A keypoint model's config: its keypoint names and skeleton (the model format requires it). */
function keypointConfig(served: ServedModel): KeypointConfig {
  const config = served.task.keypoints;
  if (config === undefined) {
    throw new FailedPreconditionError(
      `model ${served.name} version ${served.version} is a keypoints model without its keypoint config`,
    );
  }
  return config;
}
