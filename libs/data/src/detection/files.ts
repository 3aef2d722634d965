// File access shared by the VOC and COCO readers: bounded reads, image files checked to exist
// under the data roots, and a small worker pool (thousands of stats and parses, a few at a time).
import { promises as fs } from 'node:fs';
import { readDataFile, type LoadContext } from '../files';
import { AnnotationError } from './types';

/** Files and stats in flight at once. */
const CONCURRENCY = 8;

/** Applies `fn` to every item, a few at a time, keeping the order; the first failure rejects. */
export async function mapPool<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return out;
}

/** A text file read whole (at most `maxBytes`) and decoded as strict UTF-8. */
export async function readText(file: string, maxBytes: number): Promise<string> {
  const bytes = await readDataFile(file, maxBytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AnnotationError(file, undefined, 'UTF-8 text', 'bytes that are not valid UTF-8');
  }
}

/**
 * The real path of an image file an annotation names, checked to be a regular file under the data
 * roots; NOT_FOUND naming the annotation that names it when it is not there.
 */
export async function checkImageFile(
  ctx: LoadContext,
  file: string,
  namedBy: { file: string; location: string },
): Promise<string> {
  try {
    await fs.lstat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    throw new AnnotationError(
      namedBy.file,
      namedBy.location,
      `the image ${file} to exist`,
      'no such file',
      'NOT_FOUND',
    );
  }
  // realpath, not only lstat: a symlinked folder on the way could lead out of the roots too.
  const real = ctx.roots === undefined ? file : await ctx.roots.check(ctx.uri, file);
  if (!(await fs.stat(real)).isFile()) {
    throw new AnnotationError(
      namedBy.file,
      namedBy.location,
      `the image ${file} to be a regular file`,
      'something else',
    );
  }
  return real;
}
