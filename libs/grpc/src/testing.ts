// What the services' tests share: a logger that keeps its lines, the status error of a call that
// must fail, and building the compiled code that worker threads and spawned services run.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import type { ServiceError } from '@grpc/grpc-js';
import { createLogger, type Logger } from './logger';

/** A logger whose JSON lines land in an array, so tests stay quiet and can read them. */
export function memoryLogger(service: string): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ service, level: 'info', destination }), lines };
}

/** The status error of a call that must fail; throws if it succeeds. */
export async function callFailure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/**
 * Builds a workspace package and what it uses (incremental `tsc -b`): its workers and its process
 * entry run compiled code from dist/. `packageDir` is relative to the repository root.
 */
export function buildPackage(root: string, packageDir: string): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', path.join(root, packageDir)], {
    cwd: root,
    stdio: 'inherit',
  });
}

/** Every message of a server stream until it ends (or fails: then rejects with the status). */
export async function collectStream<T>(
  stream: AsyncIterable<T>,
  onMessage?: (message: T) => void,
): Promise<T[]> {
  const messages: T[] = [];
  for await (const message of stream) {
    messages.push(message);
    onMessage?.(message);
  }
  return messages;
}

/** The first message of a server stream that `matches`; leaving the stream cancels the call. */
export async function firstMessage<T>(
  stream: AsyncIterable<T>,
  matches: (message: T) => boolean,
): Promise<T> {
  for await (const message of stream) if (matches(message)) return message;
  throw new Error('the stream ended before the message it was waited for');
}

/** A service's resident set in bytes, as its /metrics reports it (prom-client's process metrics). */
export async function residentBytes(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\d+)/m.exec(text);
  if (match === null) throw new Error('no process_resident_memory_bytes in /metrics');
  return Number(match[1]);
}

/**
 * How far a service's resident set is above `before` once it has let go of memory: polled (a job
 * is terminal a moment before its worker thread is torn down) until under `bound`, for at most
 * `patienceMs`; the last growth seen, for the caller to assert on.
 */
export async function settledGrowth(
  metricsPort: number,
  before: number,
  bound: number,
  patienceMs = 20_000,
): Promise<number> {
  const giveUp = Date.now() + patienceMs;
  let grown = (await residentBytes(metricsPort)) - before;
  while (grown >= bound && Date.now() < giveUp) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    grown = (await residentBytes(metricsPort)) - before;
  }
  return grown;
}
