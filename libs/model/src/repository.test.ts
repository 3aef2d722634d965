import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend } from '@rnas/engine';
import { ARTIFACT_FILES, TASK_FILE, type ModelArtifact } from './artifact';
import { ModelError } from './errors';
import {
  listModels,
  loadPublishedModel,
  modelVersionDir,
  publishModel,
  validateModelName,
  validateVersion,
} from './repository';
import { tinyArtifact } from './test-fixtures';

let artifact: ModelArtifact;
let repo: string;

beforeAll(async () => {
  await initBackend();
  ({ artifact } = await tinyArtifact());
});
beforeEach(async () => {
  repo = await mkdtemp(path.join(tmpdir(), 'rnas-repo-'));
});
afterEach(async () => {
  await rm(repo, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<ModelError> {
  try {
    await p;
  } catch (err) {
    return err as ModelError;
  }
  throw new Error('expected a rejection');
}

describe('model names', () => {
  it.each(['a', 'cifar10-darts_v2.1', '0model', 'x'.repeat(64)])('accepts %j', (name) => {
    expect(validateModelName(name)).toBe(name);
  });
  it.each([
    '',
    '.',
    '..',
    '../etc',
    '.hidden',
    '-flag',
    'a/b',
    'a\\b',
    'Upper',
    'with space',
    'nul\0byte',
    'x'.repeat(65),
    'ümlaut',
    42,
    null,
  ])('rejects %j with INVALID_ARGUMENT', (name) => {
    expect(() => validateModelName(name)).toThrow(ModelError);
    expect(() => validateModelName(name)).toThrow(/model name: expected 1 to 64 characters of \[a-z0-9._-\]/);
  });
  it('rejects versions that are not positive integers', () => {
    for (const v of [0, -1, 1.5, NaN, 1e12, '2'])
      expect(() => validateVersion(v)).toThrow(/version: expected an integer/);
  });
});

describe('the model repository', () => {
  it('publishes consecutive versions, lists them and loads them back', async () => {
    const first = await publishModel(repo, 'tiny', artifact);
    const second = await publishModel(repo, 'tiny', artifact);
    const other = await publishModel(repo, 'another', artifact);
    expect(first).toEqual({ name: 'tiny', version: 1, path: path.join(repo, 'tiny', '1') });
    expect(second.version).toBe(2);
    expect(other.version).toBe(1);
    expect((await readdir(second.path)).sort()).toEqual([...ARTIFACT_FILES, TASK_FILE].sort());
    // Nothing but the versions remains in the model directory: no temporary directories.
    expect((await readdir(path.join(repo, 'tiny'))).sort()).toEqual(['1', '2']);
    expect(await listModels(repo)).toEqual([
      { name: 'another', versions: [1], latest: 1 },
      { name: 'tiny', versions: [1, 2], latest: 2 },
    ]);
    expect(await modelVersionDir(repo, 'tiny')).toBe(second.path);
    expect(await modelVersionDir(repo, 'tiny', 1)).toBe(first.path);
    const loaded = await loadPublishedModel(repo, 'tiny');
    expect(loaded.spec).toEqual(artifact.spec);
    expect(loaded.labels).toEqual(artifact.labels);
  });

  it('publishes a publication key once: a retry after a crash gets the version already published', async () => {
    const first = await publishModel(repo, 'tiny', artifact, { publicationKey: 'training-42' });
    await publishModel(repo, 'tiny', artifact);
    const retry = await publishModel(repo, 'tiny', artifact, { publicationKey: 'training-42' });
    expect(retry).toEqual(first);
    expect((await loadPublishedModel(repo, 'tiny', 1)).metadata.publication).toBe('training-42');
    const other = await publishModel(repo, 'tiny', artifact, { publicationKey: 'training-43' });
    expect(other.version).toBe(3);
    // A broken version carries no key and does not stop the search for one.
    await writeFile(path.join(repo, 'tiny', '2', 'weights.safetensors'), 'garbage');
    expect((await publishModel(repo, 'tiny', artifact, { publicationKey: 'training-43' })).version).toBe(3);
    const bad = await rejection(publishModel(repo, 'tiny', artifact, { publicationKey: '' }));
    expect(bad.message).toBe('publicationKey: expected 1 to 256 characters, got ""');
  });

  it('gives concurrent publishers distinct versions', async () => {
    const published = await Promise.all(
      Array.from({ length: 6 }, () => publishModel(repo, 'race', artifact)),
    );
    expect(published.map((p) => p.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await readdir(path.join(repo, 'race'))).sort()).toEqual(['1', '2', '3', '4', '5', '6']);
    for (const p of published) await loadPublishedModel(repo, 'race', p.version);
  });

  it('skips a version number taken by a stray file', async () => {
    await publishModel(repo, 'tiny', artifact);
    await writeFile(path.join(repo, 'tiny', '2'), 'not a version');
    expect((await publishModel(repo, 'tiny', artifact)).version).toBe(3);
  });

  it('publishes nothing, and leaves nothing behind, for an invalid artifact or name', async () => {
    const err = await rejection(publishModel(repo, 'tiny', { ...artifact, labels: ['only one'] }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('labels: expected 3 class names');
    expect(await readdir(path.join(repo, 'tiny'))).toEqual([]);
    expect(await listModels(repo)).toEqual([]);
    const bad = await rejection(publishModel(repo, '../escape', artifact));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(await readdir(repo)).toEqual(['tiny']);
  });

  it('lists only models and versions, ignoring whatever else lies in the repository', async () => {
    await publishModel(repo, 'good', artifact);
    await writeFile(path.join(repo, 'file-at-top'), '');
    await mkdir(path.join(repo, '.publish-abc'));
    await mkdir(path.join(repo, 'Bad Name', '1'), { recursive: true });
    await mkdir(path.join(repo, 'empty-model'));
    await mkdir(path.join(repo, 'junk', 'v1'), { recursive: true });
    await mkdir(path.join(repo, 'junk', '01'));
    await mkdir(path.join(repo, 'good', '.publish-xyz'));
    await writeFile(path.join(repo, 'good', '7'), '');
    expect(await listModels(repo)).toEqual([{ name: 'good', versions: [1], latest: 1 }]);
  });

  it('treats a repository that does not exist yet as empty', async () => {
    expect(await listModels(path.join(repo, 'not-yet'))).toEqual([]);
  });

  it('answers NOT_FOUND for unknown models and versions', async () => {
    await publishModel(repo, 'tiny', artifact);
    const unknown = await rejection(modelVersionDir(repo, 'nope'));
    expect(unknown.code).toBe('NOT_FOUND');
    expect(unknown.message).toBe('model "nope": not found');
    const version = await rejection(modelVersionDir(repo, 'tiny', 9));
    expect(version.code).toBe('NOT_FOUND');
    expect(version.message).toBe('model "tiny" version 9: not found');
    expect((await rejection(modelVersionDir(repo, '..', 1))).code).toBe('INVALID_ARGUMENT');
  });

  it('fails clearly when the repository path is a file', async () => {
    const file = path.join(repo, 'a-file');
    await writeFile(file, '');
    const err = await rejection(publishModel(file, 'tiny', artifact));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain('cannot create');
  });
});
