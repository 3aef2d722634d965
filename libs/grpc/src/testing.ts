// What the services' tests share: a logger that keeps its lines, the status error of a call that
// must fail, and building the compiled code that worker threads and spawned services run.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import {
  Client,
  credentials,
  Metadata,
  type ServiceDefinition,
  type ServiceError,
  type status,
} from '@grpc/grpc-js';
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

type RequestOfMethod<M> = M extends { requestSerialize: (value: infer Req) => Buffer } ? Req : never;

/**
 * One row of a hostile-input corpus: a call of `method` (a key of the service definition) with a
 * typed `request`, or with `raw` bytes sent as the request message as they are (undecodable or
 * oversized messages), and what the service must answer: the status `code` and a `message` that
 * names the offending field.
 */
export type HostileCase<S extends ServiceDefinition> = {
  [K in keyof S & string]: {
    name: string;
    method: K;
    code: status;
    message: RegExp;
  } & (
    | { request: () => RequestOfMethod<S[K]> | Promise<RequestOfMethod<S[K]>> }
    | { raw: () => Buffer | Promise<Buffer> }
  );
}[keyof S & string];

/**
 * Sends a hostile case to the service at `address` and resolves with the status it failed with;
 * rejects if the call succeeds (a server stream must end with an error, not with OK).
 */
export async function hostileFailure<S extends ServiceDefinition>(
  definition: S,
  address: string,
  row: HostileCase<S>,
  deadlineMs = 60_000,
): Promise<ServiceError> {
  const method = definition[row.method];
  const bytes: Buffer = 'raw' in row ? await row.raw() : method.requestSerialize(await row.request());
  const client = new Client(address, credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
  const identity = (b: Buffer): Buffer => b;
  const deadline = Date.now() + deadlineMs;
  try {
    return await new Promise<ServiceError>((resolve, reject) => {
      const succeeded = (): void =>
        reject(new Error(`${row.name}: ${row.method} succeeded; expected it to fail`));
      if (method.responseStream) {
        const stream = client.makeServerStreamRequest(
          method.path,
          identity,
          identity,
          bytes,
          new Metadata(),
          {
            deadline,
          },
        );
        stream.on('data', () => undefined);
        stream.on('error', (error: ServiceError) => resolve(error));
        stream.on('end', succeeded);
      } else {
        client.makeUnaryRequest(
          method.path,
          identity,
          identity,
          bytes,
          new Metadata(),
          { deadline },
          (error) => (error ? resolve(error) : succeeded()),
        );
      }
    });
  } finally {
    client.close();
  }
}

/** Protobuf wire-format pieces, for request bytes made by hand (and malformed on purpose). */
export const wire = {
  /** A base-128 varint; a bigint reaches the full uint64 range (negative int32s take 10 bytes). */
  varint(value: bigint | number): Buffer {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      out.push(v === 0n ? byte : byte | 0x80);
    } while (v !== 0n);
    return Buffer.from(out);
  },
  /** Field `field` as a varint (wire type 0). */
  uint(field: number, value: bigint | number): Buffer {
    return Buffer.concat([wire.varint((field << 3) | 0), wire.varint(value)]);
  },
  /** Field `field` as length-delimited bytes (wire type 2): a string, bytes or a nested message. */
  bytes(field: number, payload: Buffer | string): Buffer {
    const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    return Buffer.concat([wire.varint((field << 3) | 2), wire.varint(data.length), data]);
  },
  /** Field `field` as a 64-bit little-endian double (wire type 1). */
  double(field: number, value: number): Buffer {
    const data = Buffer.alloc(8);
    data.writeDoubleLE(value);
    return Buffer.concat([wire.varint((field << 3) | 1), data]);
  },
};

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
