import { credentials, Metadata, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import {
  InferenceServiceClient,
  type ClassifyRequest,
  type ClassifyResponse,
  type GetModelResponse,
  type ListModelsResponse,
} from '@rnas/proto';

export interface CallSettings {
  /** Relative deadline in milliseconds; none when absent. */
  deadlineMs?: number;
  /** Aborts the call (grpc-js cancels it: the server sees CANCELLED). */
  signal?: AbortSignal;
}

/** The InferenceService client with promise-returning calls (the benchmark's and the tests'). */
export class InferenceClient {
  readonly raw: InferenceServiceClient;

  constructor(address: string, options: Record<string, number> = {}) {
    this.raw = new InferenceServiceClient(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      ...options,
    });
  }

  classify(request: Partial<ClassifyRequest>, settings: CallSettings = {}): Promise<ClassifyResponse> {
    const full: ClassifyRequest = { modelName: '', topK: 0, ...request };
    return this.unary((done, options) => this.raw.classify(full, new Metadata(), options, done), settings);
  }

  listModels(settings: CallSettings = {}): Promise<ListModelsResponse> {
    return this.unary((done, options) => this.raw.listModels({}, new Metadata(), options, done), settings);
  }

  getModel(modelName: string, settings: CallSettings = {}): Promise<GetModelResponse> {
    return this.unary(
      (done, options) => this.raw.getModel({ modelName }, new Metadata(), options, done),
      settings,
    );
  }

  close(): void {
    this.raw.close();
  }

  private unary<T>(
    invoke: (
      done: (error: ServiceError | null, response: T) => void,
      options: Partial<CallOptions>,
    ) => { cancel(): void },
    settings: CallSettings,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const options: Partial<CallOptions> =
        settings.deadlineMs === undefined ? {} : { deadline: Date.now() + settings.deadlineMs };
      const call = invoke((error, response) => {
        settings.signal?.removeEventListener('abort', cancel);
        if (error) reject(error);
        else resolve(response);
      }, options);
      const cancel = (): void => call.cancel();
      if (settings.signal?.aborted) cancel();
      else settings.signal?.addEventListener('abort', cancel, { once: true });
    });
  }
}
