import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DataError, invalidArgument } from './errors';

/**
 * The data roots a dataset URI may point into. Every path is checked twice: lexically before it
 * is touched (so nothing outside is even probed) and by realpath after (so a symlink cannot lead
 * out). Files inside a dataset are checked too: a symlinked `data_batch_1.bin` is a path as well.
 */
export class DataRoots {
  private constructor(
    /** The roots as configured (for messages). */
    readonly configured: readonly string[],
    /** Their real paths, for the containment checks; roots that do not exist are left out. */
    private readonly real: readonly string[],
  ) {}

  static async create(roots: readonly string[]): Promise<DataRoots> {
    if (!Array.isArray(roots) || roots.length === 0) {
      throw invalidArgument('dataRoots', roots, 'a non-empty list of absolute directories');
    }
    for (const [i, root] of roots.entries()) {
      if (typeof root !== 'string' || !path.isAbsolute(root) || root.includes('\0')) {
        throw invalidArgument(`dataRoots[${i}]`, root, 'an absolute path');
      }
    }
    return new DataRoots([...roots], await realRoots(roots));
  }

  /** Resolves a dataset directory of `uri`: relative paths against each root in turn. */
  async resolveDirectory(uri: string, p: string): Promise<string> {
    const found = await lookUpDirectory(p, this.configured, this.real);
    if (found.kind === 'found') return found.real;
    if (found.kind === 'not-a-directory') {
      throw new DataError(
        'INVALID_ARGUMENT',
        `dataset URI ${JSON.stringify(uri)}: ${found.candidate} is not a directory`,
      );
    }
    throw this.refused(uri, found, 'a directory path');
  }

  /** Resolves a file a dataset URI names (a COCO instances JSON), as `resolveDirectory` does a directory. */
  async resolveFile(uri: string, p: string): Promise<string> {
    const found = await lookUpDirectory(p, this.configured, this.real);
    if (found.kind === 'not-a-directory' && (await fs.stat(found.real)).isFile()) return found.real;
    if (found.kind === 'found' || found.kind === 'not-a-directory') {
      throw new DataError(
        'INVALID_ARGUMENT',
        `dataset URI ${JSON.stringify(uri)}: ${found.kind === 'found' ? found.real : found.candidate} is not a regular file`,
      );
    }
    throw this.refused(uri, found, 'a file path');
  }

  private refused(
    uri: string,
    found: Exclude<DirectoryLookup, { kind: 'found' | 'not-a-directory' }>,
    expected: string,
  ): DataError {
    switch (found.kind) {
      case 'invalid':
        return new DataError('INVALID_ARGUMENT', `dataset URI ${JSON.stringify(uri)}: expected ${expected}`);
      case 'outside':
        return this.outside(uri, found.candidate);
      case 'escapes':
        return this.outside(uri, found.candidate, found.real);
      case 'missing':
        return new DataError(
          'NOT_FOUND',
          `dataset URI ${JSON.stringify(uri)}: ${found.candidates.join(' or ')} does not exist ` +
            `(data roots: ${this.configured.join(', ')})`,
        );
    }
  }

  /** Checks that a file or folder found inside a dataset really lies under a root; returns its real path. */
  async check(uri: string, file: string): Promise<string> {
    let real: string;
    try {
      real = await fs.realpath(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new DataError('NOT_FOUND', `dataset URI ${JSON.stringify(uri)}: ${file} is a dangling symlink`);
    }
    if (!this.real.some((root) => isInside(root, real))) throw this.outside(uri, file, real);
    return real;
  }

  private outside(uri: string, p: string, real?: string): DataError {
    const via = real !== undefined && real !== p ? ` (it resolves to ${real})` : '';
    return new DataError(
      'INVALID_ARGUMENT',
      `dataset URI ${JSON.stringify(uri)}: ${p}${via} is outside the data roots (${this.configured.join(', ')})`,
    );
  }
}

/** Where a directory named under data roots is, or why it is refused (see `findDirectoryUnderRoots`). */
export type DirectoryLookup =
  | { readonly kind: 'found'; readonly real: string }
  /** Empty, or holds a NUL character. */
  | { readonly kind: 'invalid' }
  /** Lexically outside every root: nothing was probed. */
  | { readonly kind: 'outside'; readonly candidate: string }
  /** Inside lexically, but its real path (through a symlink) is not. */
  | { readonly kind: 'escapes'; readonly candidate: string; readonly real: string }
  | { readonly kind: 'not-a-directory'; readonly candidate: string; readonly real: string }
  /** Nothing there, under any root it could be under. */
  | { readonly kind: 'missing'; readonly candidates: readonly string[] };

/**
 * The containment check for a directory a client names under data roots: an absolute path, or a
 * relative one looked up under each root in turn. Checked lexically before anything is touched
 * (so nothing outside is even probed), then by realpath (so a symlink cannot lead out). Roots that
 * do not exist hold nothing; an empty list refuses everything. The data loaders and the job
 * services (which check a request's dataset before queueing it) share it.
 */
export async function findDirectoryUnderRoots(
  requested: string,
  roots: readonly string[],
): Promise<DirectoryLookup> {
  return lookUpDirectory(requested, roots, await realRoots(roots));
}

/** Real paths of the roots that exist. */
async function realRoots(roots: readonly string[]): Promise<string[]> {
  const real: string[] = [];
  for (const root of roots) {
    try {
      real.push(await fs.realpath(root));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return real;
}

async function lookUpDirectory(
  requested: string,
  roots: readonly string[],
  real: readonly string[],
): Promise<DirectoryLookup> {
  if (typeof requested !== 'string' || requested === '' || requested.includes('\0'))
    return { kind: 'invalid' };
  const candidates = path.isAbsolute(requested)
    ? [path.resolve(requested)]
    : roots.map((root) => path.resolve(root, requested));
  const allRoots = [...roots.map((root) => path.resolve(root)), ...real];
  const inside = candidates.filter((c) => allRoots.some((root) => isInside(root, c)));
  if (inside.length === 0) return { kind: 'outside', candidate: candidates[0] ?? requested };
  for (const candidate of inside) {
    let resolved: string;
    try {
      resolved = await fs.realpath(candidate);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Nothing a client could use is there: no such path, a file where a directory was named, a
      // symlink loop (ELOOP) or a path the filesystem cannot hold (ENAMETOOLONG). Each is the
      // client's mistake, answered as missing, never an internal error.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') continue;
      throw err;
    }
    if (!real.some((root) => isInside(root, resolved))) return { kind: 'escapes', candidate, real: resolved };
    if (!(await fs.stat(resolved)).isDirectory())
      return { kind: 'not-a-directory', candidate, real: resolved };
    return { kind: 'found', real: resolved };
  }
  return { kind: 'missing', candidates: inside };
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}
