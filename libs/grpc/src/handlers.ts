import type {
  Metadata,
  MethodDefinition,
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  StatusObject,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import { CancelledError, DeadlineExceededError, InvalidArgumentError, toGrpcStatus } from './errors';
import type { Logger } from './logger';
import { ANONYMOUS, type Principal } from './principal';

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /**
   * Aborts when the call is over for the server: the client cancelled, the deadline passed, or
   * the server is shutting down (streams as the drain starts, unary calls when its grace period
   * ends: the client then has its UNAVAILABLE already). `signal.reason` is the CancelledError,
   * DeadlineExceededError or UnavailableError to throw; long work should pass the signal on or
   * check it between steps.
   */
  readonly signal: AbortSignal;
  /** The request metadata. */
  readonly metadata: Metadata;
  /** The client's deadline in unix milliseconds; Infinity when it set none. */
  readonly deadline: number;
  /** The client's address. */
  readonly peer: string;
  /** The method path, e.g. `/relativenas.v1.SearchService/StartSearch`. */
  readonly method: string;
  /** A logger whose lines carry the method. */
  readonly logger: Logger;
  /** Who is calling: ANONYMOUS (an admin) when the service runs without authentication. */
  readonly principal: Principal;
}

/** A call as grpc-js hands it to a handler (unary, server-streaming or bidirectional). */
export type SurfaceCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/**
 * Who is calling, from a call's metadata and peer (and the call itself, e.g. for its TLS
 * certificate): the server runs it once per call, before the handler, and the result is the
 * handler's `context.principal`. Throwing (a DomainError such as UNAUTHENTICATED) ends the call
 * with that status and the handler never runs. Without one every call is ANONYMOUS.
 */
export type Authenticate = (metadata: Metadata, peer: string, call: SurfaceCall) => Principal;

/** Every call is ANONYMOUS: the service runs without authentication. */
const anonymousCaller: Authenticate = () => ANONYMOUS;

/** A unary handler: return the response or throw a domain error. */
export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res> | Res;

/**
 * A server-streaming handler: an async iterable of responses (an async generator, typically);
 * throwing ends the stream with the mapped status. The iterable must stop when `context.signal`
 * aborts: waits for live events should race the signal.
 */
export type ServerStreamHandler<Req, Res> = (request: Req, context: CallContext) => AsyncIterable<Res>;

/**
 * A bidirectional-streaming handler: the requests as they arrive (a message that does not decode
 * comes as an UndecodableMessageError, so the handler can answer it and go on), the responses as
 * an async iterable; throwing ends the stream with the mapped status. Like a server stream, it
 * must stop when `context.signal` aborts.
 */
export type BidiStreamHandler<Req, Res> = (
  requests: AsyncIterable<Req | UndecodableMessageError>,
  context: CallContext,
) => AsyncIterable<Res>;

type HandlerFor<M> =
  M extends MethodDefinition<infer Req, infer Res>
    ? M extends { requestStream: false; responseStream: false }
      ? UnaryHandler<Req, Res>
      : M extends { requestStream: false; responseStream: true }
        ? ServerStreamHandler<Req, Res>
        : M extends { requestStream: true; responseStream: true }
          ? BidiStreamHandler<Req, Res>
          : never
    : never;

/**
 * The handlers of a service, typed from its generated definition (`InferenceServiceService` of
 * @rnas/proto): unary methods get a UnaryHandler, server-streaming ones a ServerStreamHandler,
 * bidirectional ones a BidiStreamHandler. Client-streaming methods are not supported (no contract
 * has one).
 */
export type ServiceHandlers<S extends ServiceDefinition> = { [K in keyof S]: HandlerFor<S[K]> };

/** A request that failed to decode, passed to the handler wrapper instead of the message. */
class UndecodableRequest {
  constructor(
    readonly bytes: Buffer,
    readonly reason: string,
  ) {}
}

/** A message of a request stream that did not decode (INVALID_ARGUMENT when thrown). */
export class UndecodableMessageError extends InvalidArgumentError {}

/**
 * Who a call's metadata authenticates (recorded by the server's authentication interceptor), or
 * the error to end the call with. Without authentication every caller is ANONYMOUS.
 */
export type PrincipalOf = (metadata: Metadata) => Principal | Error;

/** Ends a call in flight now with the status of `reason`, and aborts its handler's signal. */
export type EndCall = (reason: Error) => void;

/**
 * The calls in flight, so that shutdown can end server streams instead of waiting for them, and
 * end the calls still running when its grace period is over with a status of its choosing.
 */
export class CallTracker {
  private readonly streams = new Map<AbortController, EndCall>();
  private readonly unary = new Map<AbortController, EndCall>();

  /** Calls in flight (unary and streaming). */
  get size(): number {
    return this.streams.size + this.unary.size;
  }

  /** Ends every server stream with `reason` (UNAVAILABLE on shutdown, so clients reconnect elsewhere). */
  abortStreams(reason: Error): void {
    for (const end of this.streams.values()) end(reason);
  }

  /**
   * Ends every call in flight, unary and streaming, with `reason`: the client gets its status now
   * (UNAVAILABLE when the drain's grace period is over, which clients retry) instead of the
   * CANCELLED that closing the connection under it would give.
   */
  endAll(reason: Error): void {
    for (const end of [...this.unary.values(), ...this.streams.values()]) end(reason);
  }

  /** Tracks a call until the returned function is called; `end` ends it early (default: abort the signal). */
  add(controller: AbortController, streaming: boolean, end?: EndCall): () => void {
    const calls = streaming ? this.streams : this.unary;
    calls.set(controller, end ?? ((reason) => controller.abort(reason)));
    return () => calls.delete(controller);
  }
}

export interface WrappedService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/**
 * Turns throwing, promise-returning handlers into grpc-js handlers: errors become statuses through
 * `toGrpcStatus`, the call's cancellation and deadline become an AbortSignal, and an undecodable
 * request becomes INVALID_ARGUMENT instead of grpc-js's INTERNAL.
 */
export function wrapService<S extends ServiceDefinition>(
  definition: S,
  handlers: ServiceHandlers<S>,
  logger: Logger,
  tracker: CallTracker,
  authenticate: Authenticate = anonymousCaller,
): WrappedService {
  const wrappedDefinition: Record<string, MethodDefinition<unknown, unknown>> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition) as [string, MethodDefinition<unknown, unknown>][]) {
    const found: unknown = (handlers as Record<string, unknown>)[name];
    if (typeof found !== 'function') {
      throw new Error(`no handler for ${method.path}`);
    }
    // Handlers may be methods of a class instance that use `this`.
    const handler: unknown = found.bind(handlers);
    if (method.requestStream && !method.responseStream) {
      throw new Error(`${method.path}: client-streaming methods are not supported`);
    }
    wrappedDefinition[name] = { ...method, requestDeserialize: safeDeserializer(method.requestDeserialize) };
    const surface: Surface = { method: method.path, logger, tracker, authenticate };
    implementation[name] = method.requestStream
      ? bidiStream(surface, handler as BidiStreamHandler<unknown, unknown>)
      : method.responseStream
        ? serverStream(surface, handler as ServerStreamHandler<unknown, unknown>)
        : unary(surface, handler as UnaryHandler<unknown, unknown>);
  }
  return { definition: wrappedDefinition, implementation };
}

function safeDeserializer(deserialize: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (error) {
      return new UndecodableRequest(bytes, error instanceof Error ? error.message : String(error));
    }
  };
}

function decoded(request: unknown, method: string): unknown {
  if (request instanceof UndecodableRequest) {
    throw new InvalidArgumentError(
      'request',
      request.bytes,
      `not a valid ${method} request: ${request.reason}`,
    );
  }
  return request;
}

/** What every call of one method is opened with. */
interface Surface {
  method: string;
  logger: Logger;
  tracker: CallTracker;
  authenticate: Authenticate;
}

interface CallScope {
  context: CallContext;
  controller: AbortController;
  /** Runs the handler unless authentication failed (then throws its error). */
  admit<T>(run: () => T): T;
  close(): void;
}

/** The principal of a call whose authentication failed: it sees nothing (its handler never runs). */
const REFUSED: Principal = Object.freeze({ subject: '', role: 'user', authenticated: false });

/**
 * A cancellation this close to the deadline counts as the deadline: the client's own deadline
 * timer fires a transit time before the server's and its cancellation arrives first.
 */
export const DEADLINE_SLACK_MS = 20;

/**
 * Whether a cancellation that arrives now, for a call opened at `openedAt` with `deadline`, is
 * the client's deadline passing. The client measures its deadline from when it sent the call and
 * the server from when it read it, so on a loaded machine the client's cancellation can come
 * well before the server's own deadline: within the last quarter of the call's time (at least
 * DEADLINE_SLACK_MS) it counts as the deadline.
 */
export function cancelledByDeadline(deadline: number, openedAt: number, now = Date.now()): boolean {
  if (!Number.isFinite(deadline)) return false;
  const slack = Math.max(DEADLINE_SLACK_MS, 0.25 * (deadline - openedAt));
  return now + slack >= deadline;
}

function openCall(
  call: SurfaceCall,
  { method, logger, tracker, authenticate }: Surface,
  streaming: boolean,
  end?: EndCall,
): CallScope {
  const controller = new AbortController();
  const rawDeadline = call.getDeadline();
  const deadline = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
  const openedAt = Date.now();
  const onCancelled = (): void => {
    controller.abort(
      cancelledByDeadline(deadline, openedAt) ? new DeadlineExceededError() : new CancelledError(),
    );
  };
  // Every kind of call is an EventEmitter that emits 'cancelled'; the union's overloads don't unify.
  const events = call as unknown as NodeJS.EventEmitter;
  events.on('cancelled', onCancelled);
  // grpc-js ends the call at the deadline on its own; this timer makes the handler's signal fire
  // then too, even when the 'cancelled' event comes later.
  const timer = Number.isFinite(deadline)
    ? setTimeout(() => controller.abort(new DeadlineExceededError()), Math.max(0, deadline - Date.now()))
    : undefined;
  timer?.unref();
  const untrack = tracker.add(controller, streaming, end);
  const peer = call.getPeer();
  let principal: Principal = REFUSED;
  let refusal: { error: unknown } | undefined;
  try {
    principal = authenticate(call.metadata, peer, call);
  } catch (error) {
    refusal = { error };
  }
  const context: CallContext = {
    signal: controller.signal,
    metadata: call.metadata,
    deadline,
    peer,
    method,
    logger: logger.child({ method }),
    principal,
  };
  return {
    context,
    controller,
    admit(run) {
      if (refusal !== undefined) throw refusal.error;
      return run();
    },
    close() {
      clearTimeout(timer);
      events.off('cancelled', onCancelled);
      untrack();
    },
  };
}

function statusOf(error: unknown, context: CallContext): StatusObject {
  const result = toGrpcStatus(error, context.logger);
  context.logger.debug({ code: result.code, details: result.details }, 'call failed');
  return result;
}

function unary(
  surface: Surface,
  handler: UnaryHandler<unknown, unknown>,
): (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void {
  return (call, callback) => {
    // A call is answered once: by its handler, or earlier by the server ending it (shutdown).
    let answered = false;
    const answer = (error: StatusObject | null, response?: unknown): void => {
      if (answered) return;
      answered = true;
      if (error) callback(error);
      else callback(null, response);
    };
    const scope: CallScope = openCall(call, surface, false, (reason) => {
      scope.controller.abort(reason);
      answer(statusOf(reason, scope.context));
    });
    Promise.resolve()
      .then(() => scope.admit(() => handler(decoded(call.request, surface.method), scope.context)))
      .then(
        (response) => {
          // An answer after the deadline or a cancellation reaches nobody; the status says what happened.
          if (scope.context.signal.aborted) answer(statusOf(scope.context.signal.reason, scope.context));
          else answer(null, response);
        },
        (error: unknown) => answer(statusOf(error, scope.context)),
      )
      .finally(() => scope.close());
  };
}

function serverStream(
  surface: Surface,
  handler: ServerStreamHandler<unknown, unknown>,
): (call: ServerWritableStream<unknown, unknown>) => void {
  return (call) => {
    const scope = openCall(call, surface, true);
    respond(call, scope, () => handler(decoded(call.request, surface.method), scope.context));
  };
}

function bidiStream(
  surface: Surface,
  handler: BidiStreamHandler<unknown, unknown>,
): (call: ServerDuplexStream<unknown, unknown>) => void {
  const { method } = surface;
  return (call) => {
    const scope = openCall(call, surface, true);
    async function* requests(): AsyncGenerator<unknown> {
      // Not `for await (... of call)`: that destroys the whole duplex when the requests end,
      // and the responses still to come would never be sent.
      for await (const message of call.iterator({ destroyOnReturn: false }) as AsyncIterable<unknown>) {
        yield message instanceof UndecodableRequest
          ? new UndecodableMessageError(
              'request',
              message.bytes,
              `not a valid ${method} request: ${message.reason}`,
            )
          : message;
      }
    }
    respond(call, scope, () => handler(requests(), scope.context));
  };
}

/**
 * Writes a handler's responses to a response stream, waiting for the client to drain, until the
 * handler is done (the stream ends OK), throws (it ends with the mapped status) or the call's
 * signal aborts.
 */
function respond(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  scope: CallScope,
  start: () => AsyncIterable<unknown>,
): void {
  const { signal } = scope.context;
  let iterator: AsyncIterator<unknown> | undefined;
  const run = async (): Promise<void> => {
    iterator = scope.admit(start)[Symbol.asyncIterator]();
    for (;;) {
      const next = await untilAborted(iterator.next(), signal);
      if (next.done) break;
      if (!call.write(next.value)) await untilAborted(drained(call), signal);
    }
    // A handler that returns after the signal fired did not finish its stream: the client must
    // learn why (UNAVAILABLE on shutdown), not see a clean end.
    if (signal.aborted) throw signal.reason;
    call.end();
  };
  run()
    .catch((error: unknown) => {
      if (!call.cancelled) call.emit('error', Object.assign(new Error(), statusOf(error, scope.context)));
    })
    .finally(() => {
      scope.close();
      // Lets a generator run its finally blocks (unsubscribe from live events) even when it
      // was abandoned while waiting.
      iterator
        ?.return?.()
        .catch((error: unknown) => scope.context.logger.warn({ err: error }, 'stream cleanup failed'));
    });
}

/** Resolves with `promise`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function drained(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
): Promise<void> {
  return new Promise((resolve) => call.once('drain', () => resolve()));
}
