// Files a reader must never see half-written (safetensors, checkpoints, job markers, histories):
// the bytes go to a temporary file in the same directory, are flushed, and the file is renamed over
// the target; then the directory is flushed so that the rename itself survives a crash.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';

/** Makes entries created or renamed in `dir` durable; a no-op where directories cannot be opened (Windows). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    return;
  } finally {
    await handle?.close();
  }
}

/** Writes `contents` to `file` atomically and durably (temp file, fsync, rename, fsync of the directory). */
export async function writeFileAtomic(file: string, contents: string | Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw new Error(`${file}: cannot write: ${(err as Error).message}`);
  }
  await syncDirectory(dir);
}
