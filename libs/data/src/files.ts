import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import * as path from 'node:path';
import { DataError, DataFormatError } from './errors';
import type { DataRoots } from './sandbox';

const gunzip = promisify(zlib.gunzip);

/** Largest file (after decompression) a loader reads by default: far above CIFAR or MNIST. */
export const DEFAULT_MAX_FILE_BYTES = 1024 ** 3;

function formatBytes(n: number): string {
  return n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${n} bytes`;
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Reads a whole file, gunzipping it when it is gzip, never holding more than `maxBytes` of
 * either form: a decompression bomb stops at the limit instead of exhausting memory.
 */
export async function readDataFile(file: string, maxBytes = DEFAULT_MAX_FILE_BYTES): Promise<Uint8Array> {
  const stat = await fs.stat(file);
  if (!stat.isFile()) throw new DataFormatError(file, undefined, 'a regular file', 'something else');
  if (stat.size > maxBytes) {
    throw new DataError(
      'RESOURCE_EXHAUSTED',
      `${file}: ${formatBytes(stat.size)} is more than the ${formatBytes(maxBytes)} a dataset file may have`,
    );
  }
  const raw = plain(await fs.readFile(file));
  const gzipNamed = file.toLowerCase().endsWith('.gz');
  if (!isGzip(raw)) {
    if (gzipNamed) {
      const got = raw.length < 2 ? `${raw.length} bytes` : `0x${hex(raw[0])}${hex(raw[1])}`;
      throw new DataFormatError(file, 0, 'the gzip magic number 0x1f8b', got);
    }
    return raw;
  }
  try {
    return plain(await gunzip(raw, { maxOutputLength: maxBytes }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new DataError(
        'RESOURCE_EXHAUSTED',
        `${file}: decompresses to more than the ${formatBytes(maxBytes)} a dataset file may have`,
      );
    }
    throw new DataFormatError(file, undefined, 'a complete, valid gzip stream', `zlib error "${e.message}"`);
  }
}

/** A plain Uint8Array view of a Buffer: Buffer's slice() is a view, a trap for code expecting a copy. */
function plain(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/** Whether a path exists (any kind); other errors (permissions) propagate. */
export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** What a loader needs besides the directory: the URI (for messages), the roots, the size limit. */
export interface LoadContext {
  uri: string;
  roots?: DataRoots;
  maxFileBytes: number;
}

/**
 * The first of `names` present in `dir`, checked to lie under the data roots; an error naming the
 * directory and the names expected when none is there.
 */
export async function findFile(ctx: LoadContext, dir: string, names: readonly string[]): Promise<string> {
  for (const name of names) {
    const file = path.join(dir, name);
    if (await exists(file)) return ctx.roots === undefined ? file : ctx.roots.check(ctx.uri, file);
  }
  throw new DataError(
    'NOT_FOUND',
    `dataset URI ${JSON.stringify(ctx.uri)}: ${dir} has none of ${names.join(', ')}`,
  );
}
