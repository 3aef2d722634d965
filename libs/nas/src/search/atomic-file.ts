// Text files a reader must never see half-written (history, genotype, checkpoint state): the
// bytes go to a temporary file in the same directory, are flushed, and the file is renamed over
// the target; then the directory is flushed so the rename survives a crash.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';

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
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot open a directory; the file's bytes are on disk already.
  }
}
