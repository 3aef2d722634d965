import { promises as fs } from 'node:fs';
import * as zlib from 'node:zlib';
import * as path from 'node:path';
import { DataError, DataFormatError } from './errors';
import type { DataRoots } from './sandbox';

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
 *
 * The memory goes back to the system once the bytes are dropped, also after a refusal: the file
 * is read into one array of its size, and a gzip stream is decompressed into one array sized by
 * the size its trailer states (grown by doubling when the trailer understates it), never into the
 * thousands of 16 KiB chunks `zlib.gunzip` collects (zlib fills buffers of up to 64 MiB here).
 * Small chunks come from the C heap, and a gigabyte of them stays resident after they are freed
 * (glibc keeps the pages of a fragmented heap, of a worker thread's arena in particular); one
 * large array is mapped on its own and unmapped when freed.
 */
export async function readDataFile(file: string, maxBytes = DEFAULT_MAX_FILE_BYTES): Promise<Uint8Array> {
  // stat before open: opening a FIFO would block.
  const stat = await fs.stat(file);
  if (!stat.isFile()) throw new DataFormatError(file, undefined, 'a regular file', 'something else');
  if (stat.size > maxBytes) {
    throw new DataError(
      'RESOURCE_EXHAUSTED',
      `${file}: ${formatBytes(stat.size)} is more than the ${formatBytes(maxBytes)} a dataset file may have`,
    );
  }
  const raw = await readAtMost(file, stat.size, maxBytes);
  const gzipNamed = file.toLowerCase().endsWith('.gz');
  if (!isGzip(raw)) {
    if (gzipNamed) {
      const got = raw.length < 2 ? `${raw.length} bytes` : `0x${hex(raw[0])}${hex(raw[1])}`;
      throw new DataFormatError(file, 0, 'the gzip magic number 0x1f8b', got);
    }
    return raw;
  }
  const out = await gunzipAtMost(raw, maxBytes).catch((err: unknown) => {
    throw new DataFormatError(
      file,
      undefined,
      'a complete, valid gzip stream',
      `zlib error "${(err as Error).message}"`,
    );
  });
  if (out === undefined) {
    throw new DataError(
      'RESOURCE_EXHAUSTED',
      `${file}: decompresses to more than the ${formatBytes(maxBytes)} a dataset file may have`,
    );
  }
  return out;
}

/**
 * The file's bytes in one array of the size `stat` gave; a file that grew since (past
 * `maxBytes`, or at all) is refused rather than read past what was checked.
 */
async function readAtMost(file: string, size: number, maxBytes: number): Promise<Uint8Array> {
  const handle = await fs.open(file, 'r');
  try {
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(out, filled, size - filled, filled);
      if (bytesRead === 0) return out.slice(0, filled); // it shrank: what is there
      filled += bytesRead;
    }
    const { bytesRead } = await handle.read(new Uint8Array(1), 0, 1, size);
    if (bytesRead !== 0) {
      throw new DataError(
        'FAILED_PRECONDITION',
        `${file}: grew while it was read (past the ${formatBytes(size)} it had; the limit is ${formatBytes(maxBytes)})`,
      );
    }
    return out;
  } finally {
    await handle.close();
  }
}

/** Smallest array a decompression starts with, whatever the trailer says. */
const MIN_GUNZIP_CAPACITY = 64 * 1024;
/** Largest output buffer zlib fills at a time. */
const MAX_GUNZIP_CHUNK = 64 * 1024 * 1024;

/**
 * The decompressed bytes of a gzip file (every member), or undefined as soon as they pass
 * `maxBytes` (the decompression stops there). Rejects with zlib's error for a bad stream.
 */
export function gunzipAtMost(raw: Uint8Array, maxBytes: number): Promise<Uint8Array | undefined> {
  // The trailer's ISIZE: the last member's size modulo 2^32. Right for the usual single member
  // under 4 GiB; a hint only, so the array grows when it is wrong.
  const stated =
    raw.length >= 18
      ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(raw.length - 4, true)
      : 0;
  let out = new Uint8Array(Math.min(Math.max(stated, MIN_GUNZIP_CAPACITY), maxBytes));
  let length = 0;
  return new Promise((resolve, reject) => {
    // zlib's output buffers as large as the array (up to 64 MiB, past glibc's largest mmap
    // threshold): a few mapped buffers instead of a heap of 16 KiB ones.
    const gunzip = zlib.createGunzip({ chunkSize: Math.min(out.length, MAX_GUNZIP_CHUNK) });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      fn();
    };
    gunzip.on('data', (chunk: Buffer) => {
      if (settled) return;
      const need = length + chunk.length;
      if (need > maxBytes) {
        out = new Uint8Array(0); // drop the array now, not when the promise is collected
        settle(() => resolve(undefined));
        return;
      }
      if (need > out.length) {
        const grown = new Uint8Array(Math.min(Math.max(out.length * 2, need), maxBytes));
        grown.set(out.subarray(0, length));
        out = grown;
      }
      out.set(chunk, length);
      length = need;
    });
    gunzip.on('error', (err) => settle(() => reject(err)));
    gunzip.on('end', () =>
      // An array larger than its bytes (the trailer overstated them) is not kept alive by a view.
      settle(() => resolve(length === out.length ? out : out.slice(0, length))),
    );
    gunzip.end(raw);
  });
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
