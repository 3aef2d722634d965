import type { NetworkSpec } from '@rnas/nas';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createLogger,
  FailedPreconditionError,
  NotFoundError,
  UnavailableError,
  type Logger,
} from '@rnas/grpc';
import { getPublishedGenotype } from '@rnas/nas';
import { ARTIFACT_FILES, WEIGHTS_FILE } from '@rnas/model';
import type { LoadedModelInfo } from './compute-protocol';
import { ModelRepository, servingVersion, type RepositoryOptions } from './repository';
import type { ModelEngine } from './served-model';

/**
 * An engine that loads nothing: a version whose weights file says "broken" fails, any other loads.
 * It records what it was asked, so the tests see loads, unloads and restarts.
 */
class StubEngine implements ModelEngine {
  running = true;
  readonly loaded = new Map<string, string>();
  readonly log: string[] = [];

  async load(key: string, dir: string): Promise<LoadedModelInfo> {
    this.log.push(`load ${path.basename(dir)}`);
    const weights = await readFile(path.join(dir, WEIGHTS_FILE), 'utf8');
    if (weights.includes('broken')) throw new Error(`${dir}/${WEIGHTS_FILE}: not safetensors`);
    this.loaded.set(key, dir);
    const spec: NetworkSpec = {
      variant: 'cifar',
      genotype: getPublishedGenotype('DARTS_V2'),
      channels: 4,
      layers: 3,
      classes: 2,
      inChannels: 1,
      auxiliary: false,
    };
    return {
      spec,
      task: { task: 'classification', network: spec },
      outputSize: 2,
      labels: ['a', 'b'],
      preprocessing: { inputHeight: 8, inputWidth: 8, channels: 1, mean: [0.5], std: [0.25] },
      parameterCount: 123,
      metadata: { training_id: 't-7' },
    };
  }

  async run(_key: string, _input: Float32Array, n: number): Promise<Float32Array> {
    return new Float32Array(n * 2).fill(0.5);
  }

  async unload(key: string): Promise<void> {
    this.log.push(`unload ${path.basename(this.loaded.get(key) ?? key)}`);
    this.loaded.delete(key);
  }

  async restart(): Promise<void> {
    this.log.push('restart');
    this.loaded.clear();
    this.running = true;
  }
}

async function writeVersion(root: string, model: string, version: number, weights = 'fine'): Promise<void> {
  const staging = path.join(root, model, `.publish-${version}`);
  await mkdir(staging, { recursive: true });
  for (const file of ARTIFACT_FILES)
    await writeFile(path.join(staging, file), file === WEIGHTS_FILE ? weights : '{}');
  await rename(staging, path.join(root, model, String(version)));
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('ModelRepository', () => {
  let root: string;
  let engine: StubEngine;
  let repository: ModelRepository | undefined;
  const logger: Logger = createLogger({ service: 'test', level: 'silent' });

  const open = (options: Partial<RepositoryOptions> = {}): ModelRepository => {
    repository = new ModelRepository({
      root,
      engine,
      logger,
      pollMs: 3_600_000,
      batching: { maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueSize: 8, dynamicBatching: true },
      ...options,
    });
    return repository;
  };

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rnas-repository-'));
    engine = new StubEngine();
  });

  afterEach(async () => {
    await repository?.close();
    repository = undefined;
    await rm(root, { recursive: true, force: true });
  });

  it('loads every version at start; the newest READY one serves, a broken one never replaces it', async () => {
    await writeVersion(root, 'fashion', 1);
    await writeVersion(root, 'fashion', 2, 'broken');
    await writeVersion(root, 'cifar', 1);
    const repo = open();
    await repo.start();
    expect(engine.log.sort()).toEqual(['load 1', 'load 1', 'load 2']);
    const fashion = repo.get('fashion');
    expect(fashion && servingVersion(fashion)?.version).toBe(1);
    expect(fashion?.versions.get(2)).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/not safetensors/),
    });
    expect(fashion?.versions.get(1)?.info).toMatchObject({ parameterCount: 123, trainingId: 't-7' });
    expect(repo.resolve('fashion', undefined).version).toBe(1);
    expect(repo.resolve('fashion', 1).version).toBe(1);
    expect(() => repo.resolve('fashion', 2)).toThrow(FailedPreconditionError);
    expect(() => repo.resolve('fashion', 2)).toThrow(
      /^model fashion version 2 failed to load: .*not safetensors/,
    );
    expect(() => repo.resolve('fashion', 3)).toThrow(NotFoundError);
    expect(() => repo.resolve('nope', undefined)).toThrow(NotFoundError);
    expect(repo.list().map((m) => m.name)).toEqual(['cifar', 'fashion']);
  });

  it('loads a failed version again once its files change, and leaves an unchanged one alone', async () => {
    await writeVersion(root, 'fashion', 1, 'broken');
    const repo = open();
    await repo.start();
    expect(() => repo.resolve('fashion', undefined)).toThrow(/has no version that loaded/);
    await repo.rescan();
    expect(engine.log).toEqual(['load 1']);
    await writeFile(path.join(root, 'fashion', '1', WEIGHTS_FILE), 'fixed weights');
    await repo.rescan();
    expect(engine.log).toEqual(['load 1', 'load 1']);
    expect(repo.resolve('fashion', undefined).version).toBe(1);
  });

  it('unloads a version whose folder disappears, after its admitted requests', async () => {
    await writeVersion(root, 'fashion', 1);
    await writeVersion(root, 'fashion', 2);
    const repo = open();
    await repo.start();
    const v1 = repo.resolve('fashion', 1);
    const slot = v1.batcher.admit(new AbortController().signal);
    await rm(path.join(root, 'fashion', '1'), { recursive: true });
    const scan = repo.rescan();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Still draining: the admitted request has not run yet.
    expect(engine.log).not.toContain('unload 1');
    expect(() => v1.batcher.admit(new AbortController().signal)).toThrow(UnavailableError);
    expect(Array.from(await slot.submit(new Float32Array(64), 1))).toEqual([0.5, 0.5]);
    await scan;
    expect(engine.log).toContain('unload 1');
    expect(() => repo.resolve('fashion', 1)).toThrow(NotFoundError);
    expect(repo.resolve('fashion', undefined).version).toBe(2);
  });

  it('finds new versions by the periodic rescan alone', async () => {
    const repo = open({ watchEvents: false, pollMs: 100 });
    await repo.start();
    expect(repo.list()).toEqual([]);
    await writeVersion(root, 'late', 1);
    await until('the rescan to load it', () => repo.get('late')?.versions.get(1)?.state === 'ready');
  });

  it('finds a first version of a new model from file-system events', async () => {
    await mkdir(path.join(root, 'other'));
    const repo = open();
    await repo.start();
    await writeVersion(root, 'other', 1);
    await until('the event to load it', () => repo.get('other')?.versions.get(1)?.state === 'ready');
    await writeVersion(root, 'brand-new', 1);
    await until('the event to load it', () => repo.get('brand-new')?.versions.get(1)?.state === 'ready');
  });

  it('reloads every version in a new worker when the worker dies', async () => {
    await writeVersion(root, 'fashion', 1);
    await writeVersion(root, 'fashion', 2);
    const repo = open();
    await repo.start();
    const before = repo.resolve('fashion', 2);
    engine.running = false;
    const recovering = repo.recoverFromWorkerExit('exit code 1');
    expect(() => repo.resolve('fashion', 2)).toThrow(/model fashion version 2 is loading/);
    await recovering;
    expect(engine.log).toEqual(['load 2', 'load 1', 'restart', 'load 2', 'load 1']);
    const after = repo.resolve('fashion', 2);
    expect(after).not.toBe(before);
    expect(engine.loaded.size).toBe(2);
  });

  it('frees everything on close and refuses requests from then on', async () => {
    await writeVersion(root, 'fashion', 1);
    const repo = open();
    await repo.start();
    const served = repo.resolve('fashion', 1);
    await repo.close();
    expect(engine.loaded.size).toBe(0);
    expect(() => served.batcher.admit(new AbortController().signal)).toThrow(/stopping/);
    expect(() => repo.resolve('fashion', 1)).toThrow(NotFoundError);
  });
});
