import {
  ServerInterceptingCall,
  status,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { cancelledByDeadline } from './handlers';

type PartialStatusObject = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];

/** The go-grpc-prometheus label values of grpc_type. */
type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

type MethodLabels = { grpc_type: GrpcType; grpc_service: string; grpc_method: string };

/** The `grpc_code` label as go-grpc-prometheus writes it (Go's `codes.Code.String()`), so dashboards built for it work. */
const CODE_NAMES: Record<number, string> = {
  [status.OK]: 'OK',
  [status.CANCELLED]: 'Canceled',
  [status.UNKNOWN]: 'Unknown',
  [status.INVALID_ARGUMENT]: 'InvalidArgument',
  [status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [status.NOT_FOUND]: 'NotFound',
  [status.ALREADY_EXISTS]: 'AlreadyExists',
  [status.PERMISSION_DENIED]: 'PermissionDenied',
  [status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [status.ABORTED]: 'Aborted',
  [status.OUT_OF_RANGE]: 'OutOfRange',
  [status.UNIMPLEMENTED]: 'Unimplemented',
  [status.INTERNAL]: 'Internal',
  [status.UNAVAILABLE]: 'Unavailable',
  [status.DATA_LOSS]: 'DataLoss',
  [status.UNAUTHENTICATED]: 'Unauthenticated',
};

/** prometheus.DefBuckets, the go-grpc-prometheus default for grpc_server_handling_seconds. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the tensor engine reports about its memory (the shape of `tf.memory()`). */
export interface TfjsMemory {
  numTensors: number;
  numBytes: number;
  numDataBuffers: number;
}

export interface MetricsOptions {
  /** Buckets of grpc_server_handling_seconds, in seconds [prometheus.DefBuckets]. */
  handlingBuckets?: number[];
}

/**
 * The server's Prometheus registry (private: two servers in one process never share series) with
 * the go-grpc-prometheus families, default process metrics, and hooks for engine and domain series.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly started: Counter<keyof MethodLabels>;
  private readonly handled: Counter<keyof MethodLabels | 'grpc_code'>;
  private readonly handling: Histogram<keyof MethodLabels>;
  private readonly labelsByPath = new Map<string, MethodLabels>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.started = new Counter({
      name: 'grpc_server_started_total',
      help: 'Total number of RPCs started on the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers,
    });
    this.handled = new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers,
    });
    this.handling = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      buckets: options.handlingBuckets ?? DEFAULT_BUCKETS,
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Series of the tensor engine's memory, read at scrape time: a leak shows as a climbing
   * rnas_tfjs_tensors. libs/grpc does not import the engine; the service passes `tf.memory`.
   */
  trackTfjsMemory(memory: () => TfjsMemory, backend: string): void {
    const registers = [this.registry];
    new Gauge({
      name: 'rnas_tfjs_backend_info',
      help: 'The tfjs backend in use (value always 1).',
      labelNames: ['backend'],
      registers,
    }).set({ backend }, 1);
    const gauge = (name: string, help: string, read: (m: TfjsMemory) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(memory()));
        },
      });
    };
    gauge('rnas_tfjs_tensors', 'Live tensors held by tfjs.', (m) => m.numTensors);
    gauge('rnas_tfjs_bytes', 'Bytes held by live tensors of tfjs.', (m) => m.numBytes);
    gauge('rnas_tfjs_data_buffers', 'Data buffers held by tfjs.', (m) => m.numDataBuffers);
  }

  /**
   * A grpc-js server interceptor recording the three grpc_server_* families for every call the
   * server routes, health and reflection included.
   */
  readonly interceptor: ServerInterceptor = (method, call) => {
    const labels = this.labelsFor(method);
    this.started.inc(labels);
    const stopTimer = this.handling.startTimer(labels);
    let recorded = false;
    const openedAt = Date.now();
    const record = (code: status): void => {
      if (recorded) return;
      recorded = true;
      stopTimer();
      this.handled.inc({ ...labels, grpc_code: CODE_NAMES[code] ?? String(code) });
    };
    wrapSendStatus(call, (s) => record(s.code));
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          // A call that ends without a status was cancelled: by the client, or by its deadline
          // passing while no status could be sent any more.
          onCancel: () =>
            record(deadlinePassed(call, openedAt) ? status.DEADLINE_EXCEEDED : status.CANCELLED),
        }),
    });
  };

  private labelsFor(method: ServerMethodDefinition<unknown, unknown>): MethodLabels {
    let labels = this.labelsByPath.get(method.path);
    if (!labels) {
      const [, service = 'unknown', name = 'unknown'] = /^\/([^/]+)\/([^/]+)$/.exec(method.path) ?? [];
      labels = { grpc_type: grpcType(method), grpc_service: service, grpc_method: name };
      this.labelsByPath.set(method.path, labels);
    }
    return labels;
  }
}

function grpcType(method: { requestStream: boolean; responseStream: boolean }): GrpcType {
  if (method.requestStream) return method.responseStream ? 'bidi_stream' : 'client_stream';
  return method.responseStream ? 'server_stream' : 'unary';
}

function deadlinePassed(call: ServerInterceptingCallInterface, openedAt: number): boolean {
  const deadline = call.getDeadline();
  return cancelledByDeadline(deadline instanceof Date ? deadline.getTime() : deadline, openedAt);
}

/**
 * grpc-js sends the statuses it raises itself (deadline exceeded, an oversized or undecodable
 * message) from the call it hands the first interceptor, without going back through the
 * interceptor chain; observing that call's own sendStatus is the only way to count them.
 */
function wrapSendStatus(
  call: ServerInterceptingCallInterface,
  observe: (status: PartialStatusObject) => void,
): void {
  const send = call.sendStatus.bind(call);
  call.sendStatus = (s: PartialStatusObject): void => {
    observe(s);
    send(s);
  };
}
