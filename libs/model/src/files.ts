// File helpers of the model repository: durable writes (the bytes are on disk before a version
// becomes visible) and bounded reads that refuse anything but a regular file (a hostile artifact
// could hold a symlink to a secret or a device that never ends).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ModelError } from './errors';

/** Writes a new file (failing if it exists) and flushes it to disk. */
export async function writeFileSynced(file: string, contents: string | Uint8Array): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads a regular file of at most `maxBytes`; errors name the file and are FAILED_PRECONDITION.
 * The checks are made on the opened descriptor (no symlink followed, a FIFO not waited on), so
 * the file cannot be swapped between the check and the read.
 */
export async function readBoundedFile(file: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'missing'
        : code === 'ELOOP'
          ? 'expected a regular file, got a symbolic link'
          : `cannot read: ${(err as Error).message}`;
    throw new ModelError('FAILED_PRECONDITION', `${file}: ${why}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new ModelError(
        'FAILED_PRECONDITION',
        `${file}: expected a regular file, got another kind of file`,
      );
    }
    if (info.size > maxBytes) {
      throw new ModelError(
        'FAILED_PRECONDITION',
        `${file}: ${info.size} bytes, more than the limit of ${maxBytes}`,
      );
    }
    if (info.size === 0) throw new ModelError('FAILED_PRECONDITION', `${file}: empty`);
    // Exactly the size checked, however the file grows meanwhile.
    const bytes = Buffer.alloc(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) throw new ModelError('FAILED_PRECONDITION', `${file}: shrank while being read`);
      filled += bytesRead;
    }
    return bytes;
  } catch (err) {
    if (err instanceof ModelError) throw err;
    throw new ModelError('FAILED_PRECONDITION', `${file}: cannot read: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
}

/** A bounded JSON file, parsed; a syntax error names the file. */
export async function readJsonFile(file: string, maxBytes: number): Promise<unknown> {
  const bytes = await readBoundedFile(file, maxBytes);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    throw new ModelError('FAILED_PRECONDITION', `${file}: not valid JSON: ${(err as Error).message}`);
  }
}
