import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError, NotFoundError, UnavailableError, type Logger } from '@rnas/grpc';
import type { NetworkSpec } from '@rnas/nas';
import type { TaskModelSpec } from '@rnas/tasks';
import { ARTIFACT_FILES, listModels, type Preprocessing } from '@rnas/model';
import type { InferenceMetrics } from './metrics';
import { ServedModel, type BatchingOptions, type ModelEngine } from './served-model';

export type VersionState = 'loading' | 'ready' | 'failed';

/** What GetModel tells about a version whose artifact could be read. */
export interface VersionInfo {
  readonly spec: NetworkSpec;
  readonly labels: readonly string[];
  readonly preprocessing: Preprocessing;
  readonly parameterCount: number;
  /** The task and its head: which RPC serves the version. */
  readonly task: TaskModelSpec;
  /** The training that published it (`training_id` in the weights' metadata); '' otherwise. */
  readonly trainingId: string;
}

/** One version directory of the repository and what the service made of it. */
export interface VersionRecord {
  readonly model: string;
  readonly version: number;
  readonly dir: string;
  state: VersionState;
  /** Why it failed (FAILED only). */
  error: string;
  /** Sizes and times of its files: a failed version is retried when they change. */
  signature: string;
  publishedUnixMs: number;
  loadedUnixMs: number;
  info: VersionInfo | undefined;
  served: ServedModel | undefined;
  /** Set when the compute worker lost it: loaded again on the next scan. */
  reload: boolean;
}

export interface ModelRecord {
  readonly name: string;
  /** By version number. */
  readonly versions: Map<number, VersionRecord>;
}

/**
 * poll: the folder is watched and everything in it served. explicit: what is found at start is
 * served, then only `loadModel`/`unloadModel` change what is (Triton's explicit model control).
 */
export type ModelControlMode = 'poll' | 'explicit';

/** A version on disk and what the service made of it, as Triton's RepositoryIndex lists it. */
export interface IndexEntry {
  model: string;
  version: number;
  /** READY, LOADING, or UNAVAILABLE (failed, or not loaded under explicit control). */
  state: 'READY' | 'LOADING' | 'UNAVAILABLE';
  reason: string;
}

export interface RepositoryOptions {
  /** The repository folder `<root>/<model>/<version>/`. */
  root: string;
  /** [poll] */
  controlMode?: ModelControlMode;
  batching: BatchingOptions;
  /** The worker that holds the models and runs their forward passes. */
  engine: ModelEngine;
  /** Period of the rescan that backs up file-system events. */
  pollMs: number;
  /** Whether to follow file-system events [true]; without them only the periodic rescan finds changes. */
  watchEvents?: boolean;
  logger: Logger;
  metrics?: InferenceMetrics;
}

/** File-system events come in bursts (a publish is a mkdir, four files and a rename): one rescan per burst. */
const EVENT_DEBOUNCE_MS = 100;

/**
 * The models the service serves, as Triton's repository in poll-and-watch mode: every version of
 * every model is loaded and warmed up; Classify without a version uses the newest READY one, so
 * a version that fails to load never replaces a working one. New versions are picked up from
 * file-system events with a periodic rescan behind them (events can be lost: inotify limits,
 * network file systems). A version that failed is retried when its files change; a READY version
 * is immutable (a new version is published instead); a version whose directory disappears is
 * unloaded once its admitted requests are done.
 */
export class ModelRepository {
  private readonly models = new Map<string, ModelRecord>();
  private readonly watchers = new Map<string, FSWatcher>();
  /** Folders that could not be watched, so that the warning is logged once. */
  private readonly unwatchable = new Set<string>();
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescanRequested = false;
  private closed = false;
  private loads = 0;
  private readonly logger: Logger;
  /** Explicit control: the versions to serve, by model. */
  private readonly wanted = new Map<string, Set<number>>();

  constructor(private readonly options: RepositoryOptions) {
    this.logger = options.logger.child({ component: 'model-repository' });
  }

  get controlMode(): ModelControlMode {
    return this.options.controlMode ?? 'poll';
  }

  /**
   * Loads every version found now (resolves when each is READY or FAILED), then starts watching
   * (poll mode only: under explicit control nothing changes until loadModel or unloadModel).
   */
  async start(): Promise<void> {
    if (this.controlMode === 'explicit') {
      try {
        for (const entry of await listModels(this.options.root)) {
          this.wanted.set(entry.name, new Set(entry.versions));
        }
      } catch (error) {
        this.logger.warn({ err: error, root: this.options.root }, 'cannot list the model repository');
      }
      await this.rescan();
      return;
    }
    await this.rescan();
    if (this.closed) return;
    await this.updateWatches();
    this.pollTimer = setInterval(() => void this.rescan(), this.options.pollMs);
    this.pollTimer.unref();
  }

  /** Models by name. */
  list(): ModelRecord[] {
    return [...this.models.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): ModelRecord | undefined {
    return this.models.get(name);
  }

  /**
   * The model version a request asks for: NOT_FOUND for an unknown model or version, UNAVAILABLE
   * while it loads (or, without a version, while none is ready yet), FAILED_PRECONDITION for a
   * version that failed to load.
   */
  resolve(name: string, version: number | undefined): ServedModel {
    const model = this.models.get(name);
    if (!model) throw new NotFoundError('model', name);
    if (version === undefined) {
      const serving = servingVersion(model);
      if (serving?.served) return serving.served;
      const loading = [...model.versions.values()].some((v) => v.state === 'loading');
      throw loading
        ? new UnavailableError(`model ${name} has no version ready yet: loading`)
        : new FailedPreconditionError(
            `model ${name} has no version that loaded; see GetModel for the errors`,
          );
    }
    const record = model.versions.get(version);
    if (!record) throw new NotFoundError('model version', `${name}/${version}`);
    if (record.state === 'loading' || !record.served) {
      if (record.state === 'failed') {
        throw new FailedPreconditionError(`model ${name} version ${version} failed to load: ${record.error}`);
      }
      throw new UnavailableError(`model ${name} version ${version} is loading`);
    }
    return record.served;
  }

  /**
   * Brings the service in line with the folder: new versions load, failed ones whose files
   * changed load again, vanished ones unload. Scans never overlap; a call during a scan makes
   * one more scan run after it.
   */
  rescan(): Promise<void> {
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      try {
        do {
          this.rescanRequested = false;
          await this.scanOnce();
        } while (this.rescanRequested && !this.closed);
      } finally {
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }

  /**
   * Explicit control: serves the model (every version in its folder, or only `version`), loading
   * what is not loaded yet and what was published since; resolves once those versions are READY.
   * NOT_FOUND when the folder has no such model or version; FAILED_PRECONDITION when a version
   * fails to load (with why) or when the service is not under explicit control.
   */
  async loadModel(name: string, version: number | undefined): Promise<void> {
    this.requireExplicit('RepositoryModelLoad');
    const onDisk = await this.versionsOnDisk(name);
    if (onDisk.length === 0) throw new NotFoundError('model', name);
    if (version !== undefined && !onDisk.includes(version)) {
      throw new NotFoundError('model version', `${name}/${version}`);
    }
    const wanted = this.wanted.get(name) ?? new Set<number>();
    for (const v of version === undefined ? onDisk : [version]) wanted.add(v);
    this.wanted.set(name, wanted);
    // A failed version is tried again on an explicit load, changed files or not.
    for (const record of this.models.get(name)?.versions.values() ?? []) {
      if (record.state === 'failed' && (version === undefined || record.version === version)) {
        this.models.get(name)?.versions.delete(record.version);
      }
    }
    await this.rescan();
    const failed = [...(this.models.get(name)?.versions.values() ?? [])].filter(
      (record) => record.state === 'failed' && (version === undefined || record.version === version),
    );
    if (failed.length > 0) {
      throw new FailedPreconditionError(
        failed.map((r) => `model ${name} version ${r.version} failed to load: ${r.error}`).join('; '),
      );
    }
  }

  /**
   * Explicit control: stops serving the model (every version, or only `version`); each version's
   * admitted requests finish first. NOT_FOUND when it is not served.
   */
  async unloadModel(name: string, version: number | undefined): Promise<void> {
    this.requireExplicit('RepositoryModelUnload');
    const model = this.models.get(name);
    if (!model || !this.wanted.has(name)) throw new NotFoundError('loaded model', name);
    if (version === undefined) {
      this.wanted.delete(name);
    } else {
      if (!model.versions.has(version)) throw new NotFoundError('loaded model version', `${name}/${version}`);
      const wanted = this.wanted.get(name);
      wanted?.delete(version);
      if (wanted?.size === 0) this.wanted.delete(name);
    }
    await this.rescan();
  }

  /** Every version on disk with its state (Triton's RepositoryIndex), by model then version. */
  async index(): Promise<IndexEntry[]> {
    const entries: IndexEntry[] = [];
    const seen = new Set<string>();
    const add = (model: string, version: number): void => {
      const key = `${model}/${version}`;
      if (seen.has(key)) return;
      seen.add(key);
      const record = this.models.get(model)?.versions.get(version);
      if (record?.state === 'ready') entries.push({ model, version, state: 'READY', reason: '' });
      else if (record?.state === 'loading') entries.push({ model, version, state: 'LOADING', reason: '' });
      else if (record?.state === 'failed')
        entries.push({ model, version, state: 'UNAVAILABLE', reason: record.error });
      else entries.push({ model, version, state: 'UNAVAILABLE', reason: 'unloaded' });
    };
    for (const entry of await listModels(this.options.root)) {
      for (const version of entry.versions) add(entry.name, version);
    }
    for (const model of this.models.values())
      for (const version of model.versions.keys()) add(model.name, version);
    return entries.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.version - b.version));
  }

  private requireExplicit(rpc: string): void {
    if (this.controlMode !== 'explicit') {
      throw new FailedPreconditionError(
        `${rpc} needs explicit model control: start the service with --model-control-mode explicit ` +
          '(the repository folder is being watched instead)',
      );
    }
  }

  private async versionsOnDisk(name: string): Promise<readonly number[]> {
    return (await listModels(this.options.root)).find((entry) => entry.name === name)?.versions ?? [];
  }

  /** Whether a version on disk is to be served: all of them under poll, the wanted ones under explicit. */
  private serves(name: string, version: number): boolean {
    if (this.controlMode === 'poll') return true;
    return this.wanted.get(name)?.has(version) ?? false;
  }

  /** Stops watching; queued requests fail with UNAVAILABLE; every model is freed. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    await this.scanning;
    for (const model of this.models.values()) {
      for (const record of model.versions.values()) {
        record.served?.batcher.close(new UnavailableError('the inference service is stopping'));
        await record.served?.unload().catch((error: unknown) => {
          this.logger.warn({ err: error, model: model.name, version: record.version }, 'unload failed');
        });
        record.served = undefined;
      }
    }
    this.models.clear();
    this.updateGauges();
  }

  private async scanOnce(): Promise<void> {
    const { root, engine } = this.options;
    if (!engine.running) {
      try {
        await engine.restart();
      } catch (error) {
        this.logger.error(
          { err: error },
          'cannot restart the compute worker; trying again at the next rescan',
        );
        return;
      }
    }
    let entries;
    try {
      entries = await listModels(root);
    } catch (error) {
      this.logger.warn({ err: error, root }, 'cannot list the model repository; keeping what is loaded');
      return;
    }
    await this.updateWatches();
    const present = new Set<string>();
    const toLoad: VersionRecord[] = [];
    for (const entry of entries) {
      const served = entry.versions.filter((version) => this.serves(entry.name, version));
      if (served.length === 0) continue;
      let model = this.models.get(entry.name);
      if (!model) {
        model = { name: entry.name, versions: new Map() };
        this.models.set(entry.name, model);
      }
      // Newest first: the version Classify defaults to is ready soonest.
      for (const version of [...served].reverse()) {
        present.add(`${entry.name}/${version}`);
        const dir = path.join(root, entry.name, String(version));
        const signature = await filesSignature(dir);
        const record = model.versions.get(version);
        if (!record) {
          const fresh: VersionRecord = {
            model: entry.name,
            version,
            dir,
            state: 'loading',
            error: '',
            signature,
            publishedUnixMs: await modifiedMs(dir),
            loadedUnixMs: 0,
            info: undefined,
            served: undefined,
            reload: false,
          };
          model.versions.set(version, fresh);
          toLoad.push(fresh);
        } else if ((record.state === 'failed' && record.signature !== signature) || record.reload) {
          record.state = 'loading';
          record.signature = signature;
          record.reload = false;
          toLoad.push(record);
        } else if (record.state === 'ready' && record.signature !== signature) {
          this.logger.warn(
            { model: entry.name, version, dir },
            'the files of a loaded version changed; versions are immutable, publish a new one: keeping the loaded one',
          );
          record.signature = signature;
        }
      }
    }
    await this.unloadVanished(present);
    this.updateGauges();
    for (const record of toLoad) {
      if (this.closed) return;
      await this.load(record);
      this.updateGauges();
    }
    if (toLoad.length > 0) await this.updateWatches();
  }

  private async unloadVanished(present: Set<string>): Promise<void> {
    for (const model of [...this.models.values()]) {
      for (const record of [...model.versions.values()]) {
        if (present.has(`${model.name}/${record.version}`)) continue;
        model.versions.delete(record.version);
        this.logger.info(
          { model: model.name, version: record.version },
          this.serves(model.name, record.version)
            ? 'version removed from the repository: unloading'
            : 'version unloaded on request',
        );
        const served = record.served;
        record.served = undefined;
        await served?.unload().catch((error: unknown) => {
          this.logger.warn({ err: error, model: model.name, version: record.version }, 'unload failed');
        });
        this.options.metrics?.forgetVersion(model.name, record.version);
      }
      if (model.versions.size === 0) this.models.delete(model.name);
    }
  }

  private async load(record: VersionRecord): Promise<void> {
    const { model: name, version, dir } = record;
    const { batching, metrics, engine } = this.options;
    const started = performance.now();
    const key = `${name}/${version}#${++this.loads}`;
    this.logger.info({ model: name, version, dir }, 'loading model version');
    try {
      const info = await engine.load(key, dir, batching.maxBatchSize);
      record.info = {
        spec: info.spec,
        labels: info.labels,
        preprocessing: info.preprocessing,
        parameterCount: info.parameterCount,
        task: info.task,
        trainingId: info.metadata.training_id ?? '',
      };
      if (this.closed || this.models.get(name)?.versions.get(version) !== record || record.reload) {
        // Closed, the directory vanished, or the worker restarted while it loaded: nobody will use it.
        await engine.unload(key).catch(() => undefined);
        return;
      }
      record.served = new ServedModel(
        name,
        version,
        key,
        info,
        engine,
        batching,
        metrics?.batcherObserver(name, version),
      );
      record.state = 'ready';
      record.error = '';
      record.loadedUnixMs = Date.now();
      const seconds = (performance.now() - started) / 1000;
      metrics?.loadSeconds.observe({ model: name }, seconds);
      this.logger.info({ model: name, version, seconds }, 'model version ready');
    } catch (error) {
      record.state = 'failed';
      record.error = error instanceof Error ? error.message : String(error);
      metrics?.loadFailures.inc({ model: name });
      this.logger.error(
        { model: name, version, dir, error: record.error },
        'model version failed to load; it will not serve (retried when its files change)',
      );
    }
  }

  /**
   * The compute worker died and took every model with it: queued requests fail with UNAVAILABLE,
   * every version shows LOADING, a fresh worker starts and everything loads again.
   */
  async recoverFromWorkerExit(reason: string): Promise<void> {
    if (this.closed) return;
    this.logger.error({ reason }, 'the compute worker stopped; restarting it and reloading every model');
    for (const model of this.models.values()) {
      for (const record of model.versions.values()) {
        record.served?.batcher.close(
          new UnavailableError(`the compute worker stopped (${reason}); reloading`),
        );
        record.served = undefined;
        record.state = 'loading';
        record.reload = true;
      }
    }
    this.updateGauges();
    // The scan restarts the worker before loading.
    await this.rescan();
  }

  /**
   * Watches the repository, every folder in it (with or without versions yet: a first version is
   * renamed into a folder that exists before it) and the folders of failed versions (a fix to
   * their files is loaded at once). READY versions are immutable and not watched.
   */
  private async updateWatches(): Promise<void> {
    if (this.closed || this.options.watchEvents === false) return;
    const { root } = this.options;
    let names: string[];
    try {
      names = (await readdir(root, { withFileTypes: true }))
        .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
        .map((entry) => entry.name);
    } catch {
      names = [];
    }
    const wanted = new Set([root, ...names.map((name) => path.join(root, name))]);
    for (const model of this.models.values()) {
      for (const record of model.versions.values()) if (record.state === 'failed') wanted.add(record.dir);
    }
    for (const [dir, watcher] of this.watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of wanted) this.watch(dir);
  }

  private watch(dir: string): void {
    if (this.closed || this.watchers.has(dir) || this.unwatchable.has(dir)) return;
    try {
      const watcher = watch(dir, { persistent: false }, () => this.scheduleRescan());
      watcher.on('error', (error) => {
        this.logger.warn({ err: error, dir }, 'file-system watch failed; the periodic rescan goes on');
        watcher.close();
        if (this.watchers.get(dir) === watcher) this.watchers.delete(dir);
      });
      this.watchers.set(dir, watcher);
    } catch (error) {
      this.unwatchable.add(dir);
      this.logger.warn({ err: error, dir }, 'cannot watch; relying on the periodic rescan');
    }
  }

  private scheduleRescan(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.rescan(), EVENT_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private updateGauges(): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    const counts: Record<VersionState, number> = { loading: 0, ready: 0, failed: 0 };
    let modelsReady = 0;
    for (const model of this.models.values()) {
      for (const record of model.versions.values()) counts[record.state]++;
      if (servingVersion(model)) modelsReady++;
    }
    for (const [state, count] of Object.entries(counts)) metrics.versions.set({ state }, count);
    metrics.modelsLoaded.set(modelsReady);
  }
}

/** The version Classify uses without one: the newest READY version. */
export function servingVersion(model: ModelRecord): VersionRecord | undefined {
  let best: VersionRecord | undefined;
  for (const record of model.versions.values()) {
    if (record.state === 'ready' && (!best || record.version > best.version)) best = record;
  }
  return best;
}

async function filesSignature(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const file of ARTIFACT_FILES) {
    try {
      const info = await lstat(path.join(dir, file));
      parts.push(`${info.size}@${info.mtimeMs}`);
    } catch {
      parts.push('-');
    }
  }
  return parts.join(',');
}

async function modifiedMs(dir: string): Promise<number> {
  try {
    return Math.round((await lstat(dir)).mtimeMs);
  } catch {
    return 0;
  }
}
