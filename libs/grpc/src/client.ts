// One typed client for every service: built from a generated service definition (e.g.
// `SearchServiceService` of @rnas/proto), its unary methods return promises and its
// server-streaming methods async iterables. Failures are grpc-js's ServiceError as is (`code`,
// `details`, `metadata`): callers decide how to word them.
import {
  Client,
  credentials,
  Metadata,
  type ChannelCredentials,
  type CallOptions as GrpcCallOptions,
  type ChannelOptions,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';

export interface CallOptions {
  /** Deadline relative to the call's start, in milliseconds [the client's default for unary calls]. */
  deadlineMs?: number;
  /** Request metadata: a Metadata, or plain key/value pairs. */
  metadata?: Metadata | Readonly<Record<string, string>>;
  /** Aborts the call: grpc-js cancels it, the server sees CANCELLED, the caller gets CANCELLED. */
  signal?: AbortSignal;
}

export interface ClientOptions {
  /**
   * Deadline of unary calls that give none [none]. Server streams get none unless the call says:
   * a watch may rightly last for hours.
   */
  defaultDeadlineMs?: number;
  /** grpc-js channel options; the receive bound defaults to none (the server bounds what it sends). */
  channelOptions?: ChannelOptions;
  /** TLS: the CA that signed the server's certificate [the system's], and a client certificate for mutual TLS. Absent: plaintext. */
  tls?: ClientTls;
  /**
   * A bearer token sent with every call as `authorization: Bearer <token>`, unless the call's own
   * metadata has an `authorization`; a function is asked at every call (a token file that rotates).
   */
  token?: string | (() => string | undefined);
}

/** The PEM contents of a client's TLS settings. */
export interface ClientTls {
  /** CA certificates the server's certificate must chain to [the system's trusted CAs]. */
  ca?: Buffer;
  /** Client certificate chain and its key, both or neither (mutual TLS). */
  cert?: Buffer;
  key?: Buffer;
}

/** Channel credentials: TLS when `tls` is given, plaintext otherwise. */
export function channelCredentials(tls: ClientTls | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error('a client certificate needs its key, and a key its certificate');
  }
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

type RequestOf<M> = M extends { requestSerialize: (value: infer Req) => Buffer } ? Req : never;
type ResponseOf<M> = M extends { responseDeserialize: (bytes: Buffer) => infer Res } ? Res : never;

/** The methods of a service: promises for unary calls, async iterables for server streams. */
export type ServiceMethods<S> = {
  [K in keyof S]: S[K] extends { requestStream: true }
    ? never
    : S[K] extends { responseStream: true }
      ? (request: RequestOf<S[K]>, options?: CallOptions) => AsyncIterable<ResponseOf<S[K]>>
      : (request: RequestOf<S[K]>, options?: CallOptions) => Promise<ResponseOf<S[K]>>;
};

export type PromiseClient<S> = ServiceMethods<S> & {
  /** The address the client was made for. */
  readonly address: string;
  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void;
};

/** Whether an error is a call's status from grpc-js (it carries a numeric `code`). */
export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === 'number';
}

function metadataOf(metadata: CallOptions['metadata'], tokenOption: ClientOptions['token']): Metadata {
  const result = metadata instanceof Metadata ? metadata.clone() : new Metadata();
  if (!(metadata instanceof Metadata)) {
    for (const [key, value] of Object.entries(metadata ?? {})) result.set(key, value);
  }
  if (tokenOption !== undefined && result.get('authorization').length === 0) {
    const token = typeof tokenOption === 'function' ? tokenOption() : tokenOption;
    if (token !== undefined) result.set('authorization', `Bearer ${token}`);
  }
  return result;
}

function grpcOptions(deadlineMs: number | undefined): Partial<GrpcCallOptions> {
  return deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
}

/** Cancels `call` when `signal` aborts (at once if it already has); returns the undo. */
function cancelOnAbort(call: { cancel(): void }, signal: AbortSignal | undefined): () => void {
  if (signal === undefined) return () => undefined;
  const cancel = (): void => call.cancel();
  if (signal.aborted) {
    cancel();
    return () => undefined;
  }
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}

/** A client of the service `definition` at `address`: plaintext, or TLS with `options.tls`. */
export function createClient<S extends ServiceDefinition>(
  definition: S,
  address: string,
  options: ClientOptions = {},
): PromiseClient<S> {
  const client = new Client(address, channelCredentials(options.tls), {
    'grpc.max_receive_message_length': -1,
    ...options.channelOptions,
  });
  const methods: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    if (name === 'address' || name === 'close') throw new Error(`createClient: a method is named ${name}`);
    if (method.requestStream) continue;
    const serialize = method.requestSerialize;
    const deserialize = method.responseDeserialize;
    if (method.responseStream) {
      methods[name] = (request: unknown, call: CallOptions = {}): AsyncIterable<unknown> => ({
        async *[Symbol.asyncIterator]() {
          const stream = client.makeServerStreamRequest(
            method.path,
            serialize,
            deserialize,
            request,
            metadataOf(call.metadata, options.token),
            grpcOptions(call.deadlineMs),
          );
          // The iterator reports errors itself; this listener keeps a CANCELLED that arrives after
          // an early `break` (the stream is gone by then) from being an unhandled 'error' event.
          stream.on('error', () => undefined);
          const undo = cancelOnAbort(stream, call.signal);
          try {
            for await (const message of stream) yield message;
          } finally {
            undo();
            // A consumer that stops early cancels the call; after the end this does nothing.
            stream.cancel();
          }
        },
      });
    } else {
      methods[name] = (request: unknown, call: CallOptions = {}): Promise<unknown> =>
        new Promise((resolve, reject) => {
          let undo = (): void => undefined;
          const pending = client.makeUnaryRequest(
            method.path,
            serialize,
            deserialize,
            request,
            metadataOf(call.metadata, options.token),
            grpcOptions(call.deadlineMs ?? options.defaultDeadlineMs),
            (error: ServiceError | null, response?: unknown) => {
              undo();
              if (error) reject(error);
              else resolve(response);
            },
          );
          undo = cancelOnAbort(pending, call.signal);
        });
    }
  }
  return Object.assign(methods, {
    address,
    close: () => client.close(),
  }) as unknown as PromiseClient<S>;
}
