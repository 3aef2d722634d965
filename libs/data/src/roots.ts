// Paths a client names in a job request (a dataset directory) must lie under the directories the
// service was configured with. Checked when the job is accepted, so that a bad path is answered
// at once rather than found by the job later, with the data loaders' own containment check (the
// job opens its files through the same check again).
import { promises as fs } from 'node:fs';
import { findDirectoryUnderRoots } from './sandbox';

/** Why a path is refused; `reason` reads after the path, e.g. "is outside the data roots (/data)". */
export class PathNotAllowedError extends Error {
  constructor(
    readonly requested: string,
    readonly reason: string,
  ) {
    super(`${requested} ${reason}`);
    this.name = 'PathNotAllowedError';
  }
}

/**
 * The real path of the directory `requested` names: an absolute path, or a relative one looked up
 * under each root in turn. PathNotAllowedError when it is outside every root, missing, or not a
 * directory.
 */
export async function resolveDirectoryUnderRoots(
  requested: string,
  roots: readonly string[],
): Promise<string> {
  return resolveUnderRoots(requested, roots, 'directory');
}

/** As resolveDirectoryUnderRoots, for a regular file (a COCO instances JSON). */
export async function resolveFileUnderRoots(requested: string, roots: readonly string[]): Promise<string> {
  return resolveUnderRoots(requested, roots, 'file');
}

async function resolveUnderRoots(
  requested: string,
  roots: readonly string[],
  kind: 'directory' | 'file',
): Promise<string> {
  const listed = roots.length === 0 ? 'none configured' : roots.join(', ');
  const found = await findDirectoryUnderRoots(requested, roots);
  if (kind === 'file') {
    if (found.kind === 'not-a-directory' && (await fs.stat(found.real)).isFile()) return found.real;
    if (found.kind === 'found' || found.kind === 'not-a-directory') {
      throw new PathNotAllowedError(requested, 'is not a regular file');
    }
  }
  switch (found.kind) {
    case 'found':
      return found.real;
    case 'invalid':
      throw new PathNotAllowedError(JSON.stringify(requested), `is not a ${kind} path`);
    case 'outside':
      throw new PathNotAllowedError(requested, `is outside the data roots (${listed})`);
    case 'escapes':
      // The client is told the path it gave, not where a link leads on this machine.
      throw new PathNotAllowedError(
        requested,
        `leads through a symbolic link outside the data roots (${listed})`,
      );
    case 'not-a-directory':
      throw new PathNotAllowedError(requested, 'is not a directory');
    case 'missing':
      throw new PathNotAllowedError(requested, `does not exist under the data roots (${listed})`);
  }
}
