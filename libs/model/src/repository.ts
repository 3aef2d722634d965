// The model repository: a folder tree `<repo>/<model>/<version>/` that the training service
// publishes to and the inference service watches. A version appears in one rename of a complete,
// flushed directory, so a reader never sees half of one; work in progress lives in dot-entries
// (`.publish-*`) that readers ignore.
import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import {
  WEIGHTS_FILE,
  loadModelArtifact,
  writeArtifactFiles,
  type LoadArtifactOptions,
  type ModelArtifact,
} from './artifact';
import { describe, ModelError } from './errors';
import { syncDirectory } from '@rnas/fs';

/** 1 to 64 characters of [a-z0-9._-], starting with a letter or digit (so never `.`, `..` or hidden). */
const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Version directories: positive integers without leading zeros. */
const VERSION_DIR = /^[1-9][0-9]{0,8}$/;
const MAX_VERSION = 999_999_999;
const PUBLISH_ATTEMPTS = 100;
const PUBLICATION_KEY = 'publication';
const MAX_KEY_CHARS = 256;
/** A safetensors header larger than this is not one we wrote. */
const MAX_HEADER_BYTES = 100_000_000;

export interface PublishedModel {
  readonly name: string;
  readonly version: number;
  /** The version's directory. */
  readonly path: string;
}

export interface ModelEntry {
  readonly name: string;
  /** Ascending. */
  readonly versions: readonly number[];
  readonly latest: number;
}

export function validateModelName(name: unknown, field = 'model name'): string {
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) {
    throw new ModelError(
      'INVALID_ARGUMENT',
      `${field}: expected 1 to 64 characters of [a-z0-9._-] starting with a letter or digit, got ${describe(name)}`,
    );
  }
  return name;
}

export function validateVersion(version: unknown, field = 'version'): number {
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
    throw new ModelError(
      'INVALID_ARGUMENT',
      `${field}: expected an integer in [1, ${MAX_VERSION}], got ${describe(version)}`,
    );
  }
  return version;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The versions present for a model, ascending; [] when it has none (or does not exist). */
async function versionsOf(modelDir: string): Promise<number[]> {
  let entries;
  try {
    entries = await readdir(modelDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ModelError('FAILED_PRECONDITION', `${modelDir}: cannot list: ${(err as Error).message}`);
  }
  return entries
    .filter((e) => e.isDirectory() && VERSION_DIR.test(e.name))
    .map((e) => Number(e.name))
    .sort((a, b) => a - b);
}

/**
 * Every model with at least one version, by name. Entries that are not models (hidden, invalid
 * names, files, symbolic links) are skipped; a repository that does not exist yet is empty.
 * Versions are listed, not validated: `loadModelArtifact` does that.
 */
export async function listModels(repo: string): Promise<ModelEntry[]> {
  let entries;
  try {
    entries = await readdir(repo, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ModelError(
      'FAILED_PRECONDITION',
      `model repository ${repo}: cannot list: ${(err as Error).message}`,
    );
  }
  const models: ModelEntry[] = [];
  for (const e of entries.filter((x) => x.isDirectory() && MODEL_NAME.test(x.name))) {
    const versions = await versionsOf(path.join(repo, e.name));
    if (versions.length > 0) models.push({ name: e.name, versions, latest: versions[versions.length - 1] });
  }
  return models.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The directory of a model's version (the latest without `version`); NOT_FOUND when absent. */
export async function modelVersionDir(repo: string, name: string, version?: number): Promise<string> {
  validateModelName(name);
  const modelDir = path.join(repo, name);
  if (version === undefined) {
    const versions = await versionsOf(modelDir);
    if (versions.length === 0) throw new ModelError('NOT_FOUND', `model ${describe(name)}: not found`);
    return path.join(modelDir, String(versions[versions.length - 1]));
  }
  validateVersion(version);
  const dir = path.join(modelDir, String(version));
  if (!(await isDirectory(dir))) {
    throw new ModelError('NOT_FOUND', `model ${describe(name)} version ${version}: not found`);
  }
  return dir;
}

/** Reads and validates a model version (the latest without `version`). */
export async function loadPublishedModel(
  repo: string,
  name: string,
  version?: number,
  options: LoadArtifactOptions = {},
): Promise<ModelArtifact> {
  return loadModelArtifact(await modelVersionDir(repo, name, version), options);
}

export interface PublishOptions {
  /**
   * Identifies the publication (a training's id, say). When a version of the model already carries
   * this key, that version is returned and nothing is written: a job that crashed after publishing
   * but before recording it publishes once, not twice. Stored in the weights file's metadata.
   */
  readonly publicationKey?: string;
}

/** The publication key a version's weights file carries, read from its header alone; null if none. */
async function publicationKeyOf(versionDir: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(
      path.join(versionDir, WEIGHTS_FILE),
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
    if (!(await handle.stat()).isFile()) return null;
    const prefix = Buffer.alloc(8);
    if ((await handle.read(prefix, 0, 8, 0)).bytesRead !== 8) return null;
    const length = prefix.readBigUInt64LE(0);
    if (length > BigInt(MAX_HEADER_BYTES)) return null;
    const header = Buffer.alloc(Number(length));
    if ((await handle.read(header, 0, header.length, 8)).bytesRead !== header.length) return null;
    const metadata = (JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, unknown> })
      .__metadata__;
    const key = metadata?.[PUBLICATION_KEY];
    return typeof key === 'string' ? key : null;
  } catch {
    // An unreadable or broken version carries no key; loading it reports what is wrong.
    return null;
  } finally {
    await handle?.close();
  }
}

/**
 * Publishes an artifact as the model's next version (1 for a new model) and returns it. The
 * artifact is validated first; its files are written and flushed in a temporary directory beside
 * the versions, which is then renamed to the version number. Concurrent publishers each get their
 * own version: a rename onto a version that appeared meanwhile fails and is retried one higher.
 */
export async function publishModel(
  repo: string,
  name: string,
  artifact: ModelArtifact,
  options: PublishOptions = {},
): Promise<PublishedModel> {
  validateModelName(name);
  const key = options.publicationKey;
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_CHARS)) {
    throw new ModelError(
      'INVALID_ARGUMENT',
      `publicationKey: expected 1 to ${MAX_KEY_CHARS} characters, got ${describe(key)}`,
    );
  }
  const modelDir = path.join(repo, name);
  try {
    await mkdir(modelDir, { recursive: true });
  } catch (err) {
    throw new ModelError('FAILED_PRECONDITION', `${modelDir}: cannot create: ${(err as Error).message}`);
  }
  if (key !== undefined) {
    for (const version of await versionsOf(modelDir)) {
      const dir = path.join(modelDir, String(version));
      if ((await publicationKeyOf(dir)) === key) return { name, version, path: dir };
    }
  }
  const temp = await mkdtemp(path.join(modelDir, '.publish-'));
  try {
    await writeArtifactFiles(
      temp,
      key === undefined
        ? artifact
        : { ...artifact, metadata: { ...artifact.metadata, [PUBLICATION_KEY]: key } },
    );
    await syncDirectory(temp);
    let version = 0;
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
      const versions = await versionsOf(modelDir);
      // Past the newest version, and past a number that just failed (a stray file can hold it).
      version = Math.max((versions[versions.length - 1] ?? 0) + 1, version + 1);
      if (version > MAX_VERSION) break;
      const target = path.join(modelDir, String(version));
      try {
        await rename(temp, target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') continue;
        throw err;
      }
      await syncDirectory(modelDir);
      return { name, version, path: target };
    }
    throw new ModelError(
      'FAILED_PRECONDITION',
      `${modelDir}: no free version number after ${PUBLISH_ATTEMPTS} attempts`,
    );
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
}
