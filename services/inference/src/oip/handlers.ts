import {
  InvalidArgumentError,
  NotFoundError,
  UndecodableMessageError,
  toGrpcStatus,
  type CallContext,
  type ServiceHandlers,
} from '@rnas/grpc';
import {
  DataType,
  ModelInput_Format,
  ModelInstanceGroup_Kind,
  type GRPCInferenceServiceService,
  type ModelConfig,
  type ModelConfigRequest,
  type ModelConfigResponse,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataRequest,
  type ModelMetadataResponse,
  type ModelReadyRequest,
  type ModelReadyResponse,
  type ModelRepositoryParameter,
  type ModelStatistics,
  type ModelStatisticsRequest,
  type ModelStatisticsResponse,
  type ModelStreamInferResponse,
  type RepositoryIndexRequest,
  type RepositoryIndexResponse,
  type RepositoryModelLoadRequest,
  type RepositoryModelLoadResponse,
  type RepositoryModelUnloadRequest,
  type RepositoryModelUnloadResponse,
  type ServerLiveResponse,
  type ServerMetadataResponse,
  type ServerReadyResponse,
} from '@rnas/proto';
import { checkFiniteRecords } from '../classify-input';
import type { InferenceHandlers } from '../handlers';
import type { InferenceMetrics, VersionStatistics } from '../metrics';
import type { ModelRepository } from '../repository';
import type { ServedModel } from '../served-model';
import {
  checkRequestedOutputs,
  imageFit,
  modelOutputs,
  outputTensors,
  scoreThreshold,
  selectOutputs,
} from './model-io';
import { encodeOutputs, modelInputs, parseInferInputs, type Datatype } from './tensors';

/** ModelMetadata's platform: what runs the model. */
export const OIP_PLATFORM = 'relativenas_tfjs';
/** ServerMetadata's name. */
export const OIP_SERVER_NAME = 'relativenas';
/** The protocol extensions this server implements, as ServerMetadata lists them. */
export const OIP_EXTENSIONS = [
  'classification',
  'model_configuration',
  'model_repository',
  'statistics',
  'parameters',
] as const;

export interface OipOptions {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueueSize: number;
  dynamicBatching: boolean;
  /** The server's version, as ServerMetadata reports it. */
  serverVersion: string;
  /** Whether the service serves: every model found at start has loaded, and it is not draining. */
  ready(): boolean;
  /** Whether models run on a GPU (ModelConfig's instance group kind). */
  gpu: boolean;
}

const CONFIG_TYPES: Record<Datatype, DataType> = {
  FP32: DataType.TYPE_FP32,
  INT32: DataType.TYPE_INT32,
  BYTES: DataType.TYPE_STRING,
};

/**
 * The Open Inference Protocol's `inference.GRPCInferenceService` (KServe v2 and Triton's
 * extensions) over the same repository, batchers and metrics as relativenas.v1.InferenceService:
 * ModelInfer goes through InferenceHandlers.run, so its requests share forward passes with
 * Classify's, Detect's and the rest.
 */
export class OipHandlers implements ServiceHandlers<typeof GRPCInferenceServiceService> {
  constructor(
    private readonly repository: ModelRepository,
    private readonly inference: InferenceHandlers,
    private readonly options: OipOptions,
    private readonly metrics?: InferenceMetrics,
  ) {}

  serverLive(): ServerLiveResponse {
    return { live: true };
  }

  serverReady(): ServerReadyResponse {
    return { ready: this.options.ready() };
  }

  serverMetadata(): ServerMetadataResponse {
    return { name: OIP_SERVER_NAME, version: this.options.serverVersion, extensions: [...OIP_EXTENSIONS] };
  }

  modelReady(request: ModelReadyRequest): ModelReadyResponse {
    const name = requireName(request.name, 'name');
    const version = parseVersion(request.version, 'version');
    try {
      this.repository.resolve(name, version);
      return { ready: true };
    } catch (error) {
      // Unknown, loading or failed: not ready, as Triton answers (an error only for a bad request).
      if (error instanceof InvalidArgumentError) throw error;
      return { ready: false };
    }
  }

  modelMetadata(request: ModelMetadataRequest): ModelMetadataResponse {
    const served = this.resolve(request.name, request.version, 'name', 'version');
    const tensors = (specs: ReturnType<typeof modelInputs>): ModelMetadataResponse['inputs'] =>
      specs.map((spec) => ({ name: spec.name, datatype: spec.datatype, shape: [...spec.shape] }));
    return {
      name: served.name,
      versions: request.version === '' ? this.readyVersions(served.name) : [String(served.version)],
      platform: OIP_PLATFORM,
      inputs: tensors(modelInputs(served.inputShape)),
      outputs: tensors(modelOutputs(served)),
    };
  }

  modelConfig(request: ModelConfigRequest): ModelConfigResponse {
    const served = this.resolve(request.name, request.version, 'name', 'version');
    const { height, width, channels } = served.inputShape;
    const [tensorInput, imagesInput] = modelInputs(served.inputShape);
    const config: ModelConfig = {
      name: served.name,
      platform: OIP_PLATFORM,
      backend: 'relativenas',
      runtime: '',
      versionPolicy: { policyChoice: { $case: 'all', value: {} } },
      maxBatchSize: this.options.maxBatchSize,
      input: [
        {
          name: tensorInput.name,
          dataType: DataType.TYPE_FP32,
          format: ModelInput_Format.FORMAT_NHWC,
          dims: [height, width, channels],
          isShapeTensor: false,
          allowRaggedBatch: false,
          optional: true,
        },
        {
          name: imagesInput.name,
          dataType: DataType.TYPE_STRING,
          format: ModelInput_Format.FORMAT_NONE,
          dims: [1],
          isShapeTensor: false,
          allowRaggedBatch: false,
          optional: true,
        },
      ],
      output: modelOutputs(served).map((spec) => ({
        name: spec.name,
        dataType: CONFIG_TYPES[spec.datatype],
        dims: spec.shape.slice(1),
        labelFilename: '',
        isShapeTensor: false,
      })),
      schedulingChoice: this.options.dynamicBatching
        ? {
            $case: 'dynamicBatching',
            value: {
              preferredBatchSize: [],
              maxQueueDelayMicroseconds: this.options.maxQueueDelayMs * 1000,
              preserveOrdering: true,
              priorityLevels: 0,
              defaultPriorityLevel: 0,
              defaultQueuePolicy: {
                timeoutAction: 0,
                defaultTimeoutMicroseconds: 0,
                allowTimeoutOverride: false,
                maxQueueSize: this.options.maxQueueSize,
              },
            },
          }
        : undefined,
      instanceGroup: [
        {
          name: served.name,
          kind: this.options.gpu ? ModelInstanceGroup_Kind.KIND_GPU : ModelInstanceGroup_Kind.KIND_CPU,
          count: 1,
          gpus: [],
        },
      ],
      defaultModelFilename: '',
      metricTags: {},
      parameters: {
        task: { stringValue: served.task.task },
        version: { stringValue: String(served.version) },
      },
    };
    return { config };
  }

  modelInfer(request: ModelInferRequest, context: CallContext): Promise<ModelInferResponse> {
    return this.inference.measured(
      () => this.resolve(request.modelName, request.modelVersion, 'model_name', 'model_version'),
      async (served, timing) => {
        const threshold = served.task.task === 'detection' ? scoreThreshold(request) : 0;
        const { input, raw } = parseInferInputs(
          request,
          served.name,
          served.inputShape,
          this.options.maxBatchSize,
        );
        // Checked before the forward pass: a bad request does not spend it.
        const wanted = checkRequestedOutputs(served, request);
        const { output, n, sizes } = await this.inference.run(
          served,
          input,
          context,
          imageFit(served),
          timing,
        );
        // Neither logits nor probabilities may be NaN: an input that overflowed the network is refused.
        if (served.task.task === 'classification') {
          checkFiniteRecords(output, n, served.classes, (i) =>
            input.kind === 'images'
              ? input.field(i)
              : raw
                ? 'raw_input_contents[0]'
                : 'inputs[0].contents.fp32_contents',
          );
        }
        const tensors = selectOutputs(
          outputTensors(served, output, n, sizes, threshold),
          wanted,
          served.labels,
        );
        return {
          images: n,
          response: {
            modelName: served.name,
            modelVersion: String(served.version),
            id: request.id,
            parameters: {},
            ...encodeOutputs(tensors, raw),
          },
        };
      },
    );
  }

  /**
   * Each request as it arrives starts at once (so a stream's requests batch with each other and
   * with everyone else's); answers go back in the order of the requests. A request that fails is
   * an error_message in the stream, which goes on.
   */
  async *modelStreamInfer(
    requests: AsyncIterable<ModelInferRequest | UndecodableMessageError>,
    context: CallContext,
  ): AsyncIterable<ModelStreamInferResponse> {
    const pending: Promise<ModelStreamInferResponse>[] = [];
    let finished = false;
    let readError: unknown;
    let wake: (() => void) | undefined;
    const reading = (async () => {
      try {
        for await (const request of requests) {
          pending.push(this.streamOne(request, context));
          wake?.();
        }
      } catch (error) {
        readError = error;
      } finally {
        finished = true;
        wake?.();
      }
    })();
    for (;;) {
      const next = pending.shift();
      if (next) {
        yield await next;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    await reading;
    if (readError !== undefined) throw readError;
  }

  private async streamOne(
    request: ModelInferRequest | UndecodableMessageError,
    context: CallContext,
  ): Promise<ModelStreamInferResponse> {
    try {
      if (request instanceof UndecodableMessageError) throw request;
      return { errorMessage: '', inferResponse: await this.modelInfer(request, context) };
    } catch (error) {
      return { errorMessage: toGrpcStatus(error, context.logger).details, inferResponse: undefined };
    }
  }

  modelStatistics(request: ModelStatisticsRequest): ModelStatisticsResponse {
    const version = parseVersion(request.version, 'version');
    const records = this.repository
      .list()
      .filter((model) => request.name === '' || model.name === request.name)
      .flatMap((model) => [...model.versions.values()])
      .filter((record) => record.state === 'ready' && (version === undefined || record.version === version))
      .sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.version - b.version));
    if (request.name !== '' && records.length === 0) {
      throw new NotFoundError('model', version === undefined ? request.name : `${request.name}/${version}`);
    }
    return {
      modelStats: records.map((record) =>
        statisticsToProto(
          record.model,
          record.version,
          this.metrics?.versionStatistics(record.model, record.version),
        ),
      ),
    };
  }

  async repositoryIndex(request: RepositoryIndexRequest): Promise<RepositoryIndexResponse> {
    requireRepository(request.repositoryName);
    const entries = await this.repository.index();
    return {
      models: entries
        .filter((entry) => !request.ready || entry.state === 'READY')
        .map((entry) => ({
          name: entry.model,
          version: String(entry.version),
          state: entry.state,
          reason: entry.reason,
        })),
    };
  }

  async repositoryModelLoad(request: RepositoryModelLoadRequest): Promise<RepositoryModelLoadResponse> {
    requireRepository(request.repositoryName);
    const name = requireName(request.modelName, 'model_name');
    await this.repository.loadModel(name, repositoryVersion(request.parameters));
    return {};
  }

  async repositoryModelUnload(request: RepositoryModelUnloadRequest): Promise<RepositoryModelUnloadResponse> {
    requireRepository(request.repositoryName);
    const name = requireName(request.modelName, 'model_name');
    await this.repository.unloadModel(name, repositoryVersion(request.parameters));
    return {};
  }

  /** The version a request names ("" or "-1": the serving one), ready to serve. */
  private resolve(name: string, version: string, nameField: string, versionField: string): ServedModel {
    return this.repository.resolve(requireName(name, nameField), parseVersion(version, versionField));
  }

  private readyVersions(name: string): string[] {
    const model = this.repository.get(name);
    return [...(model?.versions.values() ?? [])]
      .filter((record) => record.state === 'ready')
      .map((record) => record.version)
      .sort((a, b) => a - b)
      .map(String);
  }
}

function requireName(name: string, field: string): string {
  if (name === '') throw new InvalidArgumentError(field, name, 'required');
  return name;
}

/**
 * A version string of the protocol: "" (or Triton's "-1") means the version the server picks,
 * the newest ready one; otherwise a decimal version number.
 */
export function parseVersion(text: string, field: string): number | undefined {
  if (text === '' || text === '-1') return undefined;
  const value = Number(text);
  if (!/^[0-9]{1,15}$/.test(text) || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(
      field,
      text,
      'expected a version number, or "" for the newest ready version',
    );
  }
  return value;
}

/** Only the one repository is served: its name is "" (Triton's clients send none). */
function requireRepository(name: string): void {
  if (name !== '') {
    throw new InvalidArgumentError(
      'repository_name',
      name,
      'this server has one model repository: leave repository_name empty',
    );
  }
}

/**
 * The version a RepositoryModelLoad/Unload names in its `version` parameter (string or int64);
 * none: every version. Triton's `config` and `file:` overrides are refused.
 */
function repositoryVersion(parameters: Record<string, ModelRepositoryParameter>): number | undefined {
  for (const key of Object.keys(parameters)) {
    if (key !== 'version') {
      throw new InvalidArgumentError(
        `parameters.${key}`,
        key,
        'the only parameter is version (a model version number); config and file overrides are not supported',
      );
    }
  }
  const parameter = parameters.version as ModelRepositoryParameter | undefined;
  if (parameter === undefined) return undefined;
  const choice = parameter.parameterChoice;
  const text =
    choice?.$case === 'stringParam'
      ? choice.value
      : choice?.$case === 'int64Param'
        ? String(choice.value)
        : '';
  const version = parseVersion(text, 'parameters.version');
  if (version === undefined) {
    throw new InvalidArgumentError('parameters.version', choice?.value, 'expected a version number');
  }
  return version;
}

function statisticsToProto(
  model: string,
  version: number,
  stats: VersionStatistics | undefined,
): ModelStatistics {
  const zero = { count: 0, ns: 0 };
  return {
    name: model,
    version: String(version),
    lastInference: stats?.lastInference ?? 0,
    inferenceCount: stats?.inferenceCount ?? 0,
    executionCount: stats?.executionCount ?? 0,
    inferenceStats: {
      success: stats?.success ?? zero,
      fail: stats?.fail ?? zero,
      queue: stats?.queue ?? zero,
      computeInput: stats?.computeInput ?? zero,
      computeInfer: stats?.computeInfer ?? zero,
      computeOutput: stats?.computeOutput ?? zero,
      cacheHit: zero,
      cacheMiss: zero,
    },
    batchStats: [...(stats?.batches ?? new Map<number, { count: number; ns: number }>())]
      .sort(([a], [b]) => a - b)
      .map(([batchSize, infer]) => ({
        batchSize,
        computeInput: zero,
        computeInfer: infer,
        computeOutput: zero,
      })),
  };
}
