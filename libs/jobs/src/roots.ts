// Paths a client names in a job request (a dataset directory) must lie under the directories the
// service was configured with. Checked when the job is accepted, so that a bad path is answered
// at once rather than found by the job later: lexically first (nothing outside is even probed),
// then by realpath (a symlink cannot lead out). The job opens its files with the same roots again.
import { realpath, stat } from 'node:fs/promises';
import * as path from 'node:path';

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

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
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
  const listed = roots.length === 0 ? 'none configured' : roots.join(', ');
  if (requested === '' || requested.includes('\0')) {
    throw new PathNotAllowedError(JSON.stringify(requested), 'is not a directory path');
  }
  const candidates = path.isAbsolute(requested)
    ? [path.resolve(requested)]
    : roots.map((root) => path.resolve(root, requested));
  const realRoots: string[] = [];
  for (const root of roots) {
    try {
      realRoots.push(await realpath(root));
    } catch {
      // A root that does not exist holds nothing.
    }
  }
  const inside = candidates.filter((c) => roots.some((root) => isInside(path.resolve(root), c)));
  if (inside.length === 0) throw new PathNotAllowedError(requested, `is outside the data roots (${listed})`);
  for (const candidate of inside) {
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      continue;
    }
    if (!realRoots.some((root) => isInside(root, real))) {
      throw new PathNotAllowedError(requested, `resolves to ${real}, outside the data roots (${listed})`);
    }
    if (!(await stat(real)).isDirectory()) throw new PathNotAllowedError(requested, 'is not a directory');
    return real;
  }
  throw new PathNotAllowedError(requested, `does not exist under the data roots (${listed})`);
}
