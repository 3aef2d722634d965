// Readiness through grpc.health.v1, which every GrpcServer serves: a service reports SERVING once
// it can take calls (the inference service only after its initial model load).
import { status, type ServiceDefinition } from '@grpc/grpc-js';
import { service as healthDefinition } from 'grpc-health-check';
import { createClient, isServiceError, type ClientOptions, type PromiseClient } from './client';

/** grpc.health.v1.Health as the typed client sees it (grpc-health-check loads enums as strings). */
interface HealthDefinition extends ServiceDefinition {
  Check: {
    path: string;
    requestStream: false;
    responseStream: false;
    requestSerialize: (value: { service: string }) => Buffer;
    requestDeserialize: (bytes: Buffer) => { service: string };
    responseSerialize: (value: { status: string }) => Buffer;
    responseDeserialize: (bytes: Buffer) => { status: string };
  };
}

const HEALTH = { Check: healthDefinition.Check } as unknown as HealthDefinition;

export type HealthClient = PromiseClient<HealthDefinition>;

/**
 * A client of grpc.health.v1.Health. It reconnects within a second: a waiter should see a server
 * soon after it starts listening, not after grpc-js's default backoff (up to two minutes).
 */
export function healthClient(
  address: string,
  security: Pick<ClientOptions, 'tls' | 'token'> = {},
): HealthClient {
  return createClient(HEALTH, address, {
    ...security,
    channelOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
  });
}

/**
 * What the server at `address` says of `service` (`''`: the server as a whole): `SERVING`,
 * `NOT_SERVING`, `UNKNOWN`; a failed call rejects with its ServiceError (NOT_FOUND: the server
 * knows no such service).
 */
export async function checkHealth(
  address: string,
  service: string,
  options: { deadlineMs?: number; signal?: AbortSignal } & Pick<ClientOptions, 'tls' | 'token'> = {},
): Promise<string> {
  const client = healthClient(address, { tls: options.tls, token: options.token });
  try {
    return (
      await client.Check({ service }, { signal: options.signal, deadlineMs: options.deadlineMs ?? 5000 })
    ).status;
  } finally {
    client.close();
  }
}

export interface WaitForServingOptions {
  /** How long to wait in all. */
  timeoutMs: number;
  /** Stops the wait (e.g. when the process that should serve has exited); rejects with its reason. */
  signal?: AbortSignal;
  /** Pause between two checks [100 ms]. */
  intervalMs?: number;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('the wait for serving was aborted');
}

/** `800 ms`, `120 s`. */
function within(ms: number): string {
  return ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/** Waits `ms`, or less if `signal` aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Resolves once the server at `address` reports `service` SERVING. Until then it asks again every
 * `intervalMs` (a server not yet listening, or one that does not know the service yet, is waited
 * for); past `timeoutMs` it rejects with an error that names the address, the service and the
 * last answer.
 */
export async function waitForServing(
  address: string,
  service: string,
  options: WaitForServingOptions,
): Promise<void> {
  const { timeoutMs, signal } = options;
  const until = Date.now() + timeoutMs;
  const client = healthClient(address);
  let last = 'no answer';
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const left = until - Date.now();
      if (left <= 0) {
        throw new Error(
          `${service} at ${address} was not serving within ${within(timeoutMs)} (last: ${last})`,
        );
      }
      try {
        // At least 250 ms: a check cut short by the timeout would hide the answer before it.
        const deadlineMs = Math.max(250, Math.min(left, 2000));
        const answer = await client.Check({ service }, { deadlineMs, signal });
        if (answer.status === 'SERVING') return;
        last = answer.status;
      } catch (error) {
        if (signal?.aborted) throw abortError(signal);
        if (!isServiceError(error)) throw error;
        last =
          error.code === status.NOT_FOUND
            ? 'the server does not know the service'
            : `${status[error.code]}: ${error.details}`;
      }
      await pause(Math.min(options.intervalMs ?? 100, Math.max(0, until - Date.now())), signal);
    }
  } finally {
    client.close();
  }
}
