import { format } from 'node:util';
import { Server, ServerCredentials, setLogger, type ServiceDefinition } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { UnavailableError } from './errors';
import { CallTracker, wrapService, type ServiceHandlers } from './handlers';
import type { Logger } from './logger';
import type { ServiceConfig } from './config';
import { Metrics, type MetricsOptions } from './metrics';
import { startMetricsEndpoint, type MetricsEndpoint } from './metricsEndpoint';
import { HEALTH_SERVICE, PROTO_ROOT, createReflection } from './reflection';

/** gRPC's customary 4 MiB message bound. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/**
 * How long the calls ended at the end of the grace period get to send their UNAVAILABLE before
 * the connections are closed under them (they usually close by themselves well before).
 */
export const CUT_OFF_FLUSH_MS = 500;

export interface ServerOptions {
  /** Interface to bind, e.g. `127.0.0.1`, `0.0.0.0`, `::`. */
  host: string;
  /** gRPC port; 0 picks a free one (read it from `start()`'s result). */
  port: number;
  /** Port of the HTTP `/metrics` + `/healthz` endpoint; 0 picks a free one; null runs none. */
  metricsPort: number | null;
  /** Interface of the metrics endpoint [host]. */
  metricsHost?: string;
  /** Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED [4 MiB]. */
  maxReceiveMessageBytes?: number;
  /** Largest response sent; larger ones fail with RESOURCE_EXHAUSTED [4 MiB]. */
  maxSendMessageBytes?: number;
  /**
   * How long a drain waits for calls in flight before ending them with UNAVAILABLE (which clients
   * retry) and closing the connections [10 s].
   */
  shutdownGraceMs?: number;
  /** Signals that start a drain (a second one forces it); [] leaves signals alone [SIGTERM, SIGINT]. */
  shutdownSignals?: readonly NodeJS.Signals[];
  /** Folder of the .proto sources served by reflection [the repository's proto/]. */
  protoRoot?: string;
  metrics?: MetricsOptions;
  logger: Logger;
}

export interface AddServiceOptions {
  /**
   * Whether health reports the service SERVING as soon as the server starts [true]. A service
   * that must warm up first passes false and calls `setServing(name, true)` when ready.
   */
  ready?: boolean;
}

export interface BoundPorts {
  /** The gRPC port actually bound. */
  port: number;
  /** The metrics port actually bound; undefined when there is no endpoint. */
  metricsPort: number | undefined;
}

type Phase = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * A gRPC server with everything every service needs: wrapped handlers (they only throw), bounded
 * messages, per-service health, reflection, go-grpc-prometheus metrics on a private registry with
 * an HTTP endpoint of its own, and a graceful drain on SIGTERM/SIGINT.
 */
export class GrpcServer {
  /** Prometheus registry and hooks; services register their domain series on `metrics.registry`. */
  readonly metrics: Metrics;
  private readonly server: Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly readyAtStart = new Map<string, boolean>();
  private readonly tracker = new CallTracker();
  private readonly shutdownHooks: (() => Promise<void> | void)[] = [];
  private readonly logger: Logger;
  private phase: Phase = 'new';
  private ports: BoundPorts | undefined;
  private metricsEndpoint: MetricsEndpoint | undefined;
  private stopping: Promise<void> | undefined;
  private forceStop: ((why: string) => void) | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.stopping) {
      this.logger.warn({ signal }, 'second signal: ending calls in flight with UNAVAILABLE');
      this.forceStop?.(`stopped by a second ${signal}`);
      return;
    }
    this.logger.info({ signal }, 'signal received: draining');
    void this.shutdown();
  };

  constructor(private readonly options: ServerOptions) {
    this.logger = options.logger;
    // grpc-js writes its own diagnostics to the console (e.g. `E No address added ...` before a
    // failed bind that start() reports itself): they go to the service's JSON log instead, at debug.
    const grpcLog = (...args: unknown[]): void =>
      options.logger.debug({ source: 'grpc-js' }, format(...args));
    setLogger({ error: grpcLog, warn: grpcLog, info: grpcLog, debug: grpcLog });
    this.metrics = new Metrics(options.metrics);
    this.server = new Server({
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      interceptors: [this.metrics.interceptor],
    });
  }

  /** Adds a service from its generated definition (e.g. `SearchServiceService` of @rnas/proto). */
  addService<S extends ServiceDefinition>(
    definition: S,
    handlers: ServiceHandlers<S>,
    options: AddServiceOptions = {},
  ): this {
    if (this.phase !== 'new') throw new Error('addService must be called before start');
    const name = serviceName(definition);
    if (this.readyAtStart.has(name)) throw new Error(`service ${name} was added twice`);
    const wrapped = wrapService(definition, handlers, this.logger, this.tracker);
    this.server.addService(wrapped.definition, wrapped.implementation);
    this.readyAtStart.set(name, options.ready ?? true);
    this.health.setStatus(name, 'NOT_SERVING');
    return this;
  }

  /** Sets the health of one service (its full name, e.g. `relativenas.v1.InferenceService`). */
  setServing(service: string, serving: boolean): void {
    if (!this.readyAtStart.has(service)) throw new Error(`unknown service ${service}`);
    if (this.phase === 'stopping' || this.phase === 'stopped') return;
    if (this.phase === 'new' || this.phase === 'starting') {
      this.readyAtStart.set(service, serving);
      return;
    }
    this.health.setStatus(service, serving ? 'SERVING' : 'NOT_SERVING');
  }

  /** Work to do after the drain (close the database, stop workers), in the order registered. */
  onShutdown(hook: () => Promise<void> | void): void {
    this.shutdownHooks.push(hook);
  }

  /** Binds, starts the metrics endpoint, reports health and installs the signal handlers. */
  async start(): Promise<BoundPorts> {
    if (this.phase !== 'new') throw new Error(`start called twice (server is ${this.phase})`);
    this.phase = 'starting';
    const services = [...this.readyAtStart.keys()];
    createReflection([...services, HEALTH_SERVICE], this.options.protoRoot ?? PROTO_ROOT).addToServer(
      this.server,
    );
    this.health.addToServer(this.server);
    const { host, metricsPort } = this.options;
    const port = await this.bind(host, this.options.port);
    try {
      if (metricsPort !== null) {
        this.metricsEndpoint = await startMetricsEndpoint({
          host: this.options.metricsHost ?? host,
          port: metricsPort,
          registry: this.metrics.registry,
          healthy: () => this.phase === 'running',
          logger: this.logger,
        });
      }
    } catch (error) {
      this.server.forceShutdown();
      this.phase = 'stopped';
      throw new Error(`cannot serve metrics on ${host}:${metricsPort}: ${(error as Error).message}`);
    }
    this.ports = { port, metricsPort: this.metricsEndpoint?.port };
    this.phase = 'running';
    this.health.setStatus('', 'SERVING');
    for (const [service, ready] of this.readyAtStart) {
      this.health.setStatus(service, ready ? 'SERVING' : 'NOT_SERVING');
    }
    for (const signal of this.options.shutdownSignals ?? ['SIGTERM', 'SIGINT'])
      process.on(signal, this.onSignal);
    this.logger.info({ host, ...this.ports, services }, 'serving');
    return this.ports;
  }

  /** The bound ports; throws before `start()` resolved. */
  get boundPorts(): BoundPorts {
    if (!this.ports) throw new Error('server not started');
    return this.ports;
  }

  /** Whether it serves: started, and not draining or stopped. */
  get running(): boolean {
    return this.phase === 'running';
  }

  /** Calls in flight right now. */
  get callsInFlight(): number {
    return this.tracker.size;
  }

  /**
   * Graceful drain: health goes NOT_SERVING, no new calls are accepted, server streams end with
   * UNAVAILABLE (so watchers reconnect elsewhere), unary calls in flight get `shutdownGraceMs` to
   * finish; those still running then end with UNAVAILABLE `server is shutting down` (their
   * handlers' signals abort), which clients retry, before the connections are closed. Then the
   * metrics endpoint closes and the shutdown hooks run. Idempotent: every caller gets the same
   * promise.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    const wasRunning = this.phase === 'running';
    this.phase = 'stopping';
    if (wasRunning) {
      const statuses: [string, ServingStatus][] = [['', 'NOT_SERVING']];
      for (const service of this.readyAtStart.keys()) statuses.push([service, 'NOT_SERVING']);
      for (const [service, status] of statuses) this.health.setStatus(service, status);
      this.logger.info({ callsInFlight: this.tracker.size }, 'draining');
      this.tracker.abortStreams(new UnavailableError('server is shutting down'));
      await this.stopServer(this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      await this.metricsEndpoint?.close();
    }
    for (const signal of this.options.shutdownSignals ?? ['SIGTERM', 'SIGINT'])
      process.off(signal, this.onSignal);
    for (const hook of this.shutdownHooks) {
      try {
        await hook();
      } catch (error) {
        this.logger.error({ err: error }, 'shutdown hook failed');
      }
    }
    this.phase = 'stopped';
    this.logger.info('stopped');
  }

  private stopServer(graceMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve();
      };
      let flush: NodeJS.Timeout | undefined;
      // The calls still in flight get UNAVAILABLE, as a status of their own: closing the
      // connections under them would give CANCELLED, which clients do not retry. The connections
      // close once those statuses are out (tryShutdown finishes), or are closed after a moment.
      this.forceStop = (why) => {
        if (flush) return;
        this.tracker.endAll(new UnavailableError(`server is shutting down: ${why}`));
        flush = setTimeout(() => {
          this.server.forceShutdown();
          finish();
        }, CUT_OFF_FLUSH_MS);
      };
      const timer = setTimeout(() => {
        this.logger.warn(
          { callsInFlight: this.tracker.size, graceMs },
          'grace period over: ending calls in flight with UNAVAILABLE',
        );
        this.forceStop?.(`the call did not finish within the ${graceMs} ms grace period`);
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(flush);
        finish();
      });
    });
  }

  private bind(host: string, port: number): Promise<number> {
    // An IPv6 literal needs brackets in a gRPC target.
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => {
        if (error) {
          this.phase = 'stopped';
          const reason = /EADDRINUSE/.test(error.message)
            ? 'the port is in use by another process (choose another --port, or 0 for any free port)'
            : /EACCES/.test(error.message)
              ? 'permission denied (ports below 1024 need privileges)'
              : /EADDRNOTAVAIL/.test(error.message)
                ? 'this machine has no such address (check --host)'
                : error.message;
          reject(new Error(`cannot bind gRPC to ${address}: ${reason}`));
        } else {
          resolve(bound);
        }
      });
    });
  }
}

/**
 * The server options a service's configuration sets (address, ports, message bounds, drain
 * time), with its logger and the signals that start a drain.
 */
export function serviceServerOptions(
  config: ServiceConfig,
  options: { logger: Logger; shutdownSignals?: readonly NodeJS.Signals[] },
): ServerOptions {
  return {
    host: config.host,
    port: config.port,
    metricsPort: config.metricsPort,
    maxReceiveMessageBytes: config.maxMessageBytes,
    maxSendMessageBytes: config.maxMessageBytes,
    shutdownGraceMs: config.shutdownGraceMs,
    shutdownSignals: options.shutdownSignals,
    logger: options.logger,
  };
}

/** Creates a server; add services, then `start()`. */
export function createServer(options: ServerOptions): GrpcServer {
  return new GrpcServer(options);
}

/** `relativenas.v1.SearchService` from a definition whose methods are `/relativenas.v1.SearchService/...`. */
export function serviceName(definition: ServiceDefinition): string {
  const first = Object.values(definition)[0];
  const match = first ? /^\/([^/]+)\/[^/]+$/.exec(first.path) : null;
  if (!match) throw new Error('not a gRPC service definition: no method with a /package.Service/Method path');
  return match[1];
}
