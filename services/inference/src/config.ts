import { z } from 'zod';
import {
  integerOption,
  loadServiceConfig,
  defaultAddress,
  SERVICE_ENDPOINTS,
  serviceHelp,
  STORAGE_OPTIONS,
  type OptionSpec,
  type OptionValues,
  type ServiceConfig,
} from '@rnas/grpc';

/** The well-known ports of the three services (gRPC, then metrics); README.md lists them. */
export const SERVICE_PORTS = SERVICE_ENDPOINTS;

/** The address `rnas models` and `rnas classify` talk to when neither --addr nor the variable says. */
export const DEFAULT_INFERENCE_ADDRESS = defaultAddress('inference');

const switchOption: z.ZodType<boolean> = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['on', 'off', 'true', 'false', '1', '0'], { error: 'expected on or off' }))
  .transform((text) => text === 'on' || text === 'true' || text === '1');

/** Options of the inference service (storage: the model repository); the common ones come from SERVICE_OPTIONS. */
export const INFERENCE_OPTIONS = {
  modelRepo: STORAGE_OPTIONS.modelRepo,
  maxBatchSize: {
    flag: '--max-batch-size',
    env: 'RNAS_MAX_BATCH_SIZE',
    description: 'most images one forward pass runs, and most images one request may carry',
    schema: integerOption(1, 1024),
    default: '32',
  } satisfies OptionSpec<number>,
  maxQueueDelayMs: {
    flag: '--max-queue-delay-ms',
    env: 'RNAS_MAX_QUEUE_DELAY_MS',
    description:
      'longest a request waits for others to join its batch when the model is idle, in milliseconds ' +
      '(0: run at once; requests that arrive while a batch runs form the next one anyway)',
    schema: integerOption(0, 10_000),
    default: '0',
  } satisfies OptionSpec<number>,
  maxQueueSize: {
    flag: '--max-queue-size',
    env: 'RNAS_MAX_QUEUE_SIZE',
    description: 'requests admitted and not yet computed, per model version; beyond: RESOURCE_EXHAUSTED',
    schema: integerOption(1, 100_000),
    default: '256',
  } satisfies OptionSpec<number>,
  dynamicBatching: {
    flag: '--dynamic-batching',
    env: 'RNAS_DYNAMIC_BATCHING',
    description: 'on: concurrent requests share forward passes; off: one request per forward pass',
    schema: switchOption,
    default: 'on',
  } satisfies OptionSpec<boolean>,
  maxImagePixels: {
    flag: '--max-image-pixels',
    env: 'RNAS_MAX_IMAGE_PIXELS',
    description: 'largest width x height of an encoded image, checked on its header before decoding',
    schema: integerOption(1, 268_402_689),
    default: String(25_000_000),
  } satisfies OptionSpec<number>,
  modelControlMode: {
    flag: '--model-control-mode',
    env: 'RNAS_MODEL_CONTROL_MODE',
    description:
      'poll: the repository folder is watched and every version in it served; explicit: the models ' +
      'found at start are served and then only RepositoryModelLoad/Unload (inference.GRPCInferenceService) ' +
      "load and unload models and versions, as Triton's --model-control-mode=explicit --load-model=*",
    schema: z.enum(['poll', 'explicit'], { error: 'expected poll or explicit' }),
    default: 'poll',
  } satisfies OptionSpec<'poll' | 'explicit'>,
  repoPollMs: {
    flag: '--repo-poll-ms',
    env: 'RNAS_REPO_POLL_MS',
    description: 'period of the model repository rescan that backs up file-system events, in milliseconds',
    schema: integerOption(100, 3_600_000),
    default: '5000',
  } satisfies OptionSpec<number>,
};

export type InferenceOptions = OptionValues<typeof INFERENCE_OPTIONS>;
export type InferenceConfig = ServiceConfig & InferenceOptions;

/** The inference configuration from flags and environment; a ConfigError lists every bad value. */
export function loadInferenceConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): InferenceConfig {
  return loadServiceConfig(argv, env, {
    defaults: {
      port: String(SERVICE_PORTS.inference.port),
      metricsPort: String(SERVICE_PORTS.inference.metricsPort),
    },
    extra: INFERENCE_OPTIONS,
  });
}

/** The `--help` text of `rnas serve inference`. */
export function inferenceHelp(): string {
  return serviceHelp({
    name: 'inference',
    about:
      'Serves every model of the model repository over gRPC: relativenas.v1.InferenceService and, on the ' +
      "same port, the Open Inference Protocol (inference.GRPCInferenceService, KServe v2 with Triton's extensions).",
    ports: SERVICE_PORTS.inference,
    options: INFERENCE_OPTIONS,
  });
}
