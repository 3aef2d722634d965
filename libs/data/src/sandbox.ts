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
    const real: string[] = [];
    for (const [i, root] of roots.entries()) {
      if (typeof root !== 'string' || !path.isAbsolute(root) || root.includes('\0')) {
        throw invalidArgument(`dataRoots[${i}]`, root, 'an absolute path');
      }
      try {
        real.push(await fs.realpath(root));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return new DataRoots([...roots], real);
  }

  /** Resolves a dataset directory of `uri`: relative paths against each root in turn. */
  async resolveDirectory(uri: string, p: string): Promise<string> {
    if (p === '' || p.includes('\0')) {
      throw new DataError(
        'INVALID_ARGUMENT',
        `dataset URI ${JSON.stringify(uri)}: expected a directory path`,
      );
    }
    const candidates = path.isAbsolute(p)
      ? [path.resolve(p)]
      : this.configured.map((root) => path.resolve(root, p));
    const lexicallyInside = candidates.filter((c) =>
      [...this.configured.map((root) => path.resolve(root)), ...this.real].some((root) => isInside(root, c)),
    );
    if (lexicallyInside.length === 0) throw this.outside(uri, candidates[0]);
    for (const candidate of lexicallyInside) {
      let real: string;
      try {
        real = await fs.realpath(candidate);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (!this.real.some((root) => isInside(root, real))) throw this.outside(uri, candidate, real);
      const stat = await fs.stat(real);
      if (!stat.isDirectory()) {
        throw new DataError(
          'INVALID_ARGUMENT',
          `dataset URI ${JSON.stringify(uri)}: ${candidate} is not a directory`,
        );
      }
      return real;
    }
    throw new DataError(
      'NOT_FOUND',
      `dataset URI ${JSON.stringify(uri)}: ${lexicallyInside.join(' or ')} does not exist ` +
        `(data roots: ${this.configured.join(', ')})`,
    );
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

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}
