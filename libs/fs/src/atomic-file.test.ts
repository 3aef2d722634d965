import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic-file';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-fs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temporary file behind', async () => {
    const file = path.join(dir, 'a.json');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, 'new contents');
    expect(readFileSync(file, 'utf8')).toBe('new contents');
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('names the file when it cannot write, and keeps the old contents', async () => {
    const file = path.join(dir, 'missing-dir', 'a.json');
    await expect(writeFileAtomic(file, 'x')).rejects.toThrow(`${file}: cannot write: ENOENT`);
    const kept = path.join(dir, 'kept');
    writeFileSync(kept, 'old');
    // A directory in the way of the rename: the write fails and the temporary file is removed.
    const blocked = path.join(dir, 'blocked');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(blocked, 'child'), { recursive: true }));
    await expect(writeFileAtomic(blocked, 'x')).rejects.toThrow(`${blocked}: cannot write`);
    expect(readdirSync(dir).sort()).toEqual(['blocked', 'kept']);
    expect(readFileSync(kept, 'utf8')).toBe('old');
  });
});
