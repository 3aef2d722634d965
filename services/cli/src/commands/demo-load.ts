// The demo's Classify load generator: sends images `requestImages` per request with `concurrency`
// requests in flight, so that the service's dynamic batching merges them into larger forward
// passes, and collects the predicted class of each image.
import { status } from '@grpc/grpc-js';
import { isServiceError, type PromiseClient } from '@rnas/grpc';
import type { ClassifyRequest, InferenceServiceService } from '@rnas/proto';

/** A failure of the load, already worded for the user. */
export class ClassifyLoadError extends Error {}

export interface ClassifyLoadOptions {
  client: PromiseClient<typeof InferenceServiceService>;
  model: string;
  version: number;
  /** Images to classify, numbered 0..images-1. */
  images: number;
  /** The input of the request for images start..start+count-1. */
  input(start: number, count: number): ClassifyRequest['input'];
  requestImages: number;
  concurrency: number;
  deadlineMs: number;
  /** Called after each answered request with the images classified so far. */
  onProgress?(done: number): void;
  /** Times one request refused with RESOURCE_EXHAUSTED is sent again [100]. */
  maxRetries?: number;
  /** Pause before sending it again [20 ms]. */
  retryDelayMs?: number;
}

/** The predicted class of every image (-1 where the service gave none). */
export async function classifyLoad(options: ClassifyLoadOptions): Promise<Int32Array> {
  const { images: n, requestImages, concurrency } = options;
  if (!(requestImages >= 1) || !(concurrency >= 1)) {
    throw new Error(
      `classifyLoad: requestImages ${requestImages} and concurrency ${concurrency} must be >= 1`,
    );
  }
  const predicted = new Int32Array(n);
  let next = 0;
  let done = 0;
  // Once one request has failed for good, the other workers send nothing more.
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < n && !failed) {
      const start = next;
      const count = Math.min(requestImages, n - start);
      next += count;
      const request: ClassifyRequest = {
        modelName: options.model,
        version: options.version,
        topK: 1,
        input: options.input(start, count),
      };
      const range = `${start}..${start + count - 1}`;
      const response = await send(options, request, range).catch((error: unknown) => {
        failed = true;
        throw error;
      });
      if (response.classifications.length !== count) {
        failed = true;
        throw new ClassifyLoadError(
          `Classify of test images ${range} answered ${response.classifications.length} classifications for ${count} images`,
        );
      }
      response.classifications.forEach((cl, i) => {
        predicted[start + i] = cl.scores[0]?.classIndex ?? -1;
      });
      done += count;
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return predicted;
}

/** One request, sent again while the service's queue is full: back-pressure, not failure. */
async function send(
  options: ClassifyLoadOptions,
  request: ClassifyRequest,
  range: string,
): ReturnType<ClassifyLoadOptions['client']['classify']> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await options.client.classify(request, { deadlineMs: options.deadlineMs });
    } catch (error) {
      if (!isServiceError(error)) throw error;
      if (error.code !== status.RESOURCE_EXHAUSTED || attempt >= (options.maxRetries ?? 100)) {
        throw new ClassifyLoadError(
          `Classify of test images ${range} failed: ${status[error.code] ?? ''} ${error.details ?? error.message}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 20));
    }
  }
}
