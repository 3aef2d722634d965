import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PathNotAllowedError, resolveDirectoryUnderRoots } from './roots';

let dir: string;
let root: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-roots-'));
  root = path.join(dir, 'data');
  mkdirSync(path.join(root, 'mnist'), { recursive: true });
  mkdirSync(path.join(dir, 'secret'));
  writeFileSync(path.join(root, 'file.bin'), 'x');
  symlinkSync(path.join(dir, 'secret'), path.join(root, 'escape'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveDirectoryUnderRoots', () => {
  it('accepts absolute and root-relative directories under a root', async () => {
    const real = path.join(root, 'mnist');
    expect(await resolveDirectoryUnderRoots(real, [root])).toBe(real);
    expect(await resolveDirectoryUnderRoots('mnist', ['/nonexistent-root', root])).toBe(real);
  });

  it.each([
    ['/etc', 'is outside the data roots'],
    ['../secret', 'is outside the data roots'],
    ['mnist/../../secret', 'is outside the data roots'],
    ['escape', 'outside the data roots'],
    ['missing', 'does not exist under the data roots'],
    ['file.bin', 'is not a directory'],
    ['', 'is not a directory path'],
    ['a\0b', 'is not a directory path'],
  ])('refuses %j: %s', async (requested, reason) => {
    const err = (await resolveDirectoryUnderRoots(requested, [root]).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(PathNotAllowedError);
    expect(err.message).toContain(reason);
  });

  it('refuses everything when no root is configured', async () => {
    await expect(resolveDirectoryUnderRoots(path.join(root, 'mnist'), [])).rejects.toThrow(
      'is outside the data roots (none configured)',
    );
  });
});
