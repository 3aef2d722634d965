// The embedded job database: one SQLite file (better-sqlite3, WAL) holding every job of a
// service with its configuration, progress, result and an append-only event log per job with
// gap-free sequence numbers (what Watch RPCs replay). Every write is one transaction committed
// with synchronous=FULL before the call returns, so a job or event a client was told about
// survives a kill -9 of the process.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ANONYMOUS } from '@rnas/grpc';
import {
  DuplicateJobError,
  JobNotFoundError,
  JobStateError,
  PageTokenError,
  QuotaExceededError,
} from './errors';
import { canTransition, JOB_STATES, type JobState } from './job-state';

/**
 * Bumped when the tables change; a database written by a newer schema is refused, an older one is
 * migrated when opened for writing. 1: the first; 2: jobs record their owner.
 */
export const SCHEMA_VERSION = 2;

/**
 * The owner of a job stored without one (every job of a database from before owners existed): the
 * anonymous caller of a service without authentication, who owned them all.
 */
export const DEFAULT_OWNER = ANONYMOUS.subject;

/** The states of a job that is not finished: it holds a place in the queue or a worker. */
export const UNFINISHED_STATES: readonly JobState[] = ['queued', 'running', 'cancelling'];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN (${JOB_STATES.map((s) => `'${s}'`).join(', ')})),
  config TEXT NOT NULL,
  progress TEXT NOT NULL,
  result TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  updated_ms INTEGER NOT NULL,
  resumes INTEGER NOT NULL DEFAULT 0,
  last_sequence INTEGER NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '${DEFAULT_OWNER}',
  UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS jobs_by_kind_state ON jobs (kind, state, position);
CREATE TABLE IF NOT EXISTS job_events (
  kind TEXT NOT NULL,
  job_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  time_ms INTEGER NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (kind, job_id, sequence)
) WITHOUT ROWID;
`;

/** Schema 1 -> 2: jobs record their owner; the jobs already stored are the anonymous owner's. */
const OWNER_COLUMN = `ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '${DEFAULT_OWNER}'`;
/** A subject's jobs by state (quotas, a user's listing). */
const OWNER_INDEX =
  'CREATE INDEX IF NOT EXISTS jobs_by_kind_owner_state ON jobs (kind, owner, state, position)';

/** A stored job. The JSON fields hold whatever its service put there. */
export interface JobRecord<Config = unknown, Progress = unknown, Result = unknown> {
  readonly kind: string;
  readonly id: string;
  /** The subject that started it (DEFAULT_OWNER for jobs stored before owners existed). */
  readonly owner: string;
  readonly state: JobState;
  readonly config: Config;
  readonly progress: Progress;
  /** null until the service sets one. */
  readonly result: Result | null;
  /** Why it failed; empty otherwise. */
  readonly error: string;
  readonly createdMs: number;
  /** When it first ran; 0 while queued. */
  readonly startedMs: number;
  /** When it reached a terminal state; 0 before. */
  readonly finishedMs: number;
  readonly updatedMs: number;
  /** How often it was resumed after a restart. */
  readonly resumes: number;
  /** Sequence of its last event; its events are numbered 1..lastSequence. */
  readonly lastSequence: number;
}

/** One entry of a job's event log. */
export interface StoredEvent<Payload = unknown> {
  /** 1-based, increasing by one per event of the job. */
  readonly sequence: number;
  readonly timeMs: number;
  readonly payload: Payload;
}

/** A change to a job, applied in one transaction together with the event that tells about it. */
export interface JobPatch<Progress, Result> {
  state?: JobState;
  progress?: Progress;
  result?: Result | null;
  error?: string;
  /** Counts one more resume. */
  resumed?: boolean;
}

/** The event appended with a patch: a payload, or one made from the job after the patch. */
export type EventSource<Config, Progress, Result, Payload> =
  { payload: Payload } | { from: (job: JobRecord<Config, Progress, Result>) => Payload };

/** What a new job is stored with. */
export interface NewJob<Config, Progress> {
  config: Config;
  progress: Progress;
  /** The subject it belongs to [DEFAULT_OWNER]. */
  owner?: string;
}

/** What the creation of a job checks in the same transaction that stores it. */
export interface Admission {
  /**
   * The most unfinished jobs (UNFINISHED_STATES) of this kind one owner may have; a job beyond
   * it is refused with a QuotaExceededError. 0: no limit.
   */
  maxUnfinishedPerOwner: number;
}

export interface ListOptions {
  /** Only jobs in one of these states; empty or absent: every state. */
  states?: readonly JobState[];
  /** Only the jobs of this owner; absent: every owner's. */
  owner?: string;
  pageSize: number;
  /** The `nextPageToken` of the previous page; empty for the first. */
  pageToken?: string;
}

export interface JobPage<Config, Progress, Result> {
  /** Newest first. */
  jobs: JobRecord<Config, Progress, Result>[];
  /** Empty on the last page. */
  nextPageToken: string;
}

export interface OpenJobStoreOptions {
  /** Open an existing database without writing to it (another service reading this one's jobs). */
  readonly?: boolean;
}

interface JobRow {
  position: number;
  kind: string;
  id: string;
  state: JobState;
  config: string;
  progress: string;
  result: string;
  error: string;
  created_ms: number;
  started_ms: number;
  finished_ms: number;
  updated_ms: number;
  resumes: number;
  last_sequence: number;
  /** Absent in a database of schema 1 opened read-only (it cannot be migrated). */
  owner?: string;
}

interface EventRow {
  sequence: number;
  time_ms: number;
  payload: string;
}

/**
 * JSON with the protobuf convention for non-finite doubles ("NaN", "Infinity", "-Infinity"), so
 * that a diverged loss survives the round trip through the generated `fromJSON` functions.
 */
export function toStoredJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
  );
}

function parseStored(text: string): unknown {
  return JSON.parse(text) as unknown;
}

type Listener = () => void;

/** The job database of one service; each job kind is used through `store.kind(name)`. */
export class JobStore {
  private readonly listeners = new Map<string, Set<Listener>>();
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    /** The database file. */
    readonly file: string,
    readonly readonly: boolean,
    /**
     * The SQL expression of a job's owner: the column, or the default owner's literal in a
     * database of schema 1 opened read-only (which cannot be migrated).
     */
    readonly ownerExpression: string,
  ) {}

  /**
   * Opens (creating when missing, unless read-only) the database at `file`. WAL lets readers
   * (Get, List, Watch, another service) proceed while a job writes; synchronous=FULL makes every
   * commit durable before it returns.
   */
  static open(file: string, options: OpenJobStoreOptions = {}): JobStore {
    const readonly = options.readonly === true;
    if (!readonly) mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file, { readonly, fileMustExist: readonly });
    try {
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `job database ${file} has schema version ${version}; this build knows versions up to ${SCHEMA_VERSION}`,
        );
      }
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        // One transaction: a migration that fails half-way leaves the database as it was.
        db.transaction(() => {
          db.exec(SCHEMA);
          if (!hasColumn(db, 'jobs', 'owner')) db.exec(OWNER_COLUMN);
          db.exec(OWNER_INDEX);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        })();
      }
      const ownerExpression = hasColumn(db, 'jobs', 'owner') ? 'owner' : `'${DEFAULT_OWNER}'`;
      return new JobStore(db, file, readonly, ownerExpression);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** The jobs of one kind (`search`, `training`), typed by what the service stores in them. */
  kind<Config, Progress, Result, Payload>(name: string): JobKind<Config, Progress, Result, Payload> {
    return new JobKind(this, name);
  }

  /** Closes the database; later calls fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.db.close();
  }

  /** @internal */
  get database(): Database.Database {
    if (this.closed) throw new Error(`job database ${this.file} is closed`);
    return this.db;
  }

  /** @internal Calls `listener` after each commit that appends an event to the job. */
  subscribe(key: string, listener: Listener): () => void {
    let set = this.listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  /** @internal */
  notify(key: string): void {
    for (const listener of [...(this.listeners.get(key) ?? [])]) listener();
  }
}

/** Whether `table` has `column` (false when the table does not exist). */
function hasColumn(db: Database.Database, table: string, column: string): boolean {
  const columns = db.pragma(`table_info(${table})`) as { name: string }[];
  return columns.some((c) => c.name === column);
}

const MAX_PAGE_TOKEN_CHARS = 200;

/** The jobs of one kind in a JobStore. Methods are synchronous: each is one short transaction. */
export class JobKind<Config, Progress, Result, Payload> {
  constructor(
    private readonly store: JobStore,
    /** The kind's name, stored with each job. */
    readonly name: string,
  ) {}

  private get db(): Database.Database {
    return this.store.database;
  }

  private get ownerSql(): string {
    return this.store.ownerExpression;
  }

  private key(id: string): string {
    return `${this.name}\u0000${id}`;
  }

  /**
   * Stores a new QUEUED job and its first event in one transaction; when this returns, the job is
   * on disk. The admission's quota is checked in that transaction (better-sqlite3 runs it
   * synchronously, and SQLite serialises writers), so concurrent creations cannot exceed it.
   */
  create(
    id: string,
    fields: NewJob<Config, Progress>,
    event: EventSource<Config, Progress, Result, Payload>,
    admission: Admission = { maxUnfinishedPerOwner: 0 },
  ): JobRecord<Config, Progress, Result> {
    const now = Date.now();
    const owner = fields.owner ?? DEFAULT_OWNER;
    const job = this.db.transaction(() => {
      if (this.row(id) !== undefined) throw new DuplicateJobError(this.name, id);
      const limit = admission.maxUnfinishedPerOwner;
      if (limit > 0) {
        const unfinished = this.unfinishedOf(owner);
        if (unfinished >= limit) throw new QuotaExceededError(this.name, owner, unfinished, limit);
      }
      this.db
        .prepare(
          `INSERT INTO jobs (kind, id, owner, state, config, progress, result, created_ms, updated_ms)
           VALUES (?, ?, ?, 'queued', ?, ?, 'null', ?, ?)`,
        )
        .run(this.name, id, owner, toStoredJson(fields.config), toStoredJson(fields.progress), now, now);
      return this.appendIn(id, event, now);
    })();
    this.store.notify(this.key(id));
    return job;
  }

  /** The job, or undefined. */
  find(id: string): JobRecord<Config, Progress, Result> | undefined {
    const row = this.row(id);
    return row === undefined ? undefined : this.record(row);
  }

  /** The job; JobNotFoundError when there is none. */
  get(id: string): JobRecord<Config, Progress, Result> {
    const job = this.find(id);
    if (job === undefined) throw new JobNotFoundError(this.name, id);
    return job;
  }

  /**
   * Applies `patch` (a state change is checked against the lifecycle, and sets the start and
   * finish times) and appends `event` when given, in one transaction.
   */
  update(
    id: string,
    patch: JobPatch<Progress, Result>,
    event?: EventSource<Config, Progress, Result, Payload>,
  ): JobRecord<Config, Progress, Result> {
    const now = Date.now();
    const job = this.db.transaction(() => {
      const row = this.row(id);
      if (row === undefined) throw new JobNotFoundError(this.name, id);
      const state = patch.state ?? row.state;
      if (patch.state !== undefined && patch.state !== row.state && !canTransition(row.state, patch.state)) {
        throw new JobStateError(this.name, id, row.state, patch.state);
      }
      const terminal = state === 'succeeded' || state === 'failed' || state === 'cancelled';
      this.db
        .prepare(
          `UPDATE jobs SET state = ?, progress = ?, result = ?, error = ?, started_ms = ?, finished_ms = ?,
             updated_ms = ?, resumes = ? WHERE kind = ? AND id = ?`,
        )
        .run(
          state,
          patch.progress === undefined ? row.progress : toStoredJson(patch.progress),
          patch.result === undefined ? row.result : toStoredJson(patch.result),
          patch.error ?? row.error,
          row.started_ms === 0 && state === 'running' ? now : row.started_ms,
          terminal && row.finished_ms === 0 ? now : row.finished_ms,
          now,
          row.resumes + (patch.resumed === true ? 1 : 0),
          this.name,
          id,
        );
      if (event === undefined) {
        const updated = this.row(id);
        if (updated === undefined) throw new JobNotFoundError(this.name, id);
        return this.record(updated);
      }
      return this.appendIn(id, event, now);
    })();
    if (event !== undefined) this.store.notify(this.key(id));
    return job;
  }

  /** Appends an event (and applies an optional patch) in one transaction. */
  append(
    id: string,
    event: EventSource<Config, Progress, Result, Payload>,
    patch: JobPatch<Progress, Result> = {},
  ): JobRecord<Config, Progress, Result> {
    return this.update(id, patch, event);
  }

  /** Up to `limit` events after `afterSequence`, in order. */
  events(id: string, afterSequence: number, limit: number): StoredEvent<Payload>[] {
    const rows = this.db
      .prepare(
        `SELECT sequence, time_ms, payload FROM job_events
         WHERE kind = ? AND job_id = ? AND sequence > ? ORDER BY sequence LIMIT ?`,
      )
      .all(this.name, id, afterSequence, limit) as EventRow[];
    return rows.map((r) => ({
      sequence: r.sequence,
      timeMs: r.time_ms,
      payload: parseStored(r.payload) as Payload,
    }));
  }

  /**
   * One page of jobs, newest first. A token from another kind or filter (other states, another
   * owner) is a PageTokenError.
   */
  list(options: ListOptions): JobPage<Config, Progress, Result> {
    const states = [...new Set(options.states ?? [])].sort();
    const { owner } = options;
    // The owner goes into the token as a digest: a subject can be long, a token is short.
    const filter =
      `${this.name}:${states.join(',')}` +
      (owner === undefined ? '' : `@${createHash('sha256').update(owner).digest('hex').slice(0, 16)}`);
    const before = decodePageToken(options.pageToken ?? '', filter);
    const stateClause = states.length === 0 ? '' : `AND state IN (${states.map(() => '?').join(', ')})`;
    const ownerClause = owner === undefined ? '' : `AND ${this.ownerSql} = ?`;
    const rows = this.db
      .prepare(
        `SELECT * FROM jobs WHERE kind = ? ${ownerClause} ${stateClause} AND position < ?
         ORDER BY position DESC LIMIT ?`,
      )
      .all(
        this.name,
        ...(owner === undefined ? [] : [owner]),
        ...states,
        before,
        options.pageSize + 1,
      ) as JobRow[];
    const more = rows.length > options.pageSize;
    const page = rows.slice(0, options.pageSize);
    return {
      jobs: page.map((r) => this.record(r)),
      nextPageToken: more ? encodePageToken(page[page.length - 1].position, filter) : '',
    };
  }

  /** Every job in one of `states`, oldest first (the order a restarted service resumes them in). */
  inStates(states: readonly JobState[]): JobRecord<Config, Progress, Result>[] {
    if (states.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT * FROM jobs WHERE kind = ? AND state IN (${states.map(() => '?').join(', ')})
         ORDER BY position`,
      )
      .all(this.name, ...states) as JobRow[];
    return rows.map((r) => this.record(r));
  }

  /** How many unfinished jobs (UNFINISHED_STATES) `owner` has. */
  unfinishedOf(owner: string): number {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS n FROM jobs WHERE kind = ? AND ${this.ownerSql} = ?
         AND state IN (${UNFINISHED_STATES.map(() => '?').join(', ')})`,
      )
      .get(this.name, owner, ...UNFINISHED_STATES) as { n: number };
    return row.n;
  }

  /** How many jobs are in each state. */
  countByState(): Record<JobState, number> {
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    const rows = this.db
      .prepare('SELECT state, COUNT(*) AS n FROM jobs WHERE kind = ? GROUP BY state')
      .all(this.name) as { state: JobState; n: number }[];
    for (const r of rows) counts[r.state] = r.n;
    return counts;
  }

  /** Calls `listener` after every commit that appends an event to the job; returns the unsubscribe. */
  onEvent(id: string, listener: () => void): () => void {
    return this.store.subscribe(this.key(id), listener);
  }

  private row(id: string): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE kind = ? AND id = ?').get(this.name, id) as
      JobRow | undefined;
  }

  private appendIn(
    id: string,
    event: EventSource<Config, Progress, Result, Payload>,
    now: number,
  ): JobRecord<Config, Progress, Result> {
    this.db
      .prepare('UPDATE jobs SET last_sequence = last_sequence + 1 WHERE kind = ? AND id = ?')
      .run(this.name, id);
    const row = this.row(id);
    if (row === undefined) throw new JobNotFoundError(this.name, id);
    const job = this.record(row);
    const payload = 'payload' in event ? event.payload : event.from(job);
    this.db
      .prepare('INSERT INTO job_events (kind, job_id, sequence, time_ms, payload) VALUES (?, ?, ?, ?, ?)')
      .run(this.name, id, row.last_sequence, now, toStoredJson(payload));
    return job;
  }

  private record(row: JobRow): JobRecord<Config, Progress, Result> {
    return {
      kind: row.kind,
      id: row.id,
      owner: row.owner ?? DEFAULT_OWNER,
      state: row.state,
      config: parseStored(row.config) as Config,
      progress: parseStored(row.progress) as Progress,
      result: parseStored(row.result) as Result | null,
      error: row.error,
      createdMs: row.created_ms,
      startedMs: row.started_ms,
      finishedMs: row.finished_ms,
      updatedMs: row.updated_ms,
      resumes: row.resumes,
      lastSequence: row.last_sequence,
    };
  }
}

/** Page tokens carry the position to continue before and the listing they belong to. */
function encodePageToken(position: number, filter: string): string {
  return Buffer.from(JSON.stringify({ p: position, f: filter }), 'utf8').toString('base64url');
}

function decodePageToken(token: string, filter: string): number {
  if (token === '') return Number.MAX_SAFE_INTEGER;
  if (token.length > MAX_PAGE_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new PageTokenError(token, 'not a page token of this service');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new PageTokenError(token, 'not a page token of this service');
  }
  const { p, f } = (parsed ?? {}) as { p?: unknown; f?: unknown };
  if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 1 || typeof f !== 'string') {
    throw new PageTokenError(token, 'not a page token of this service');
  }
  if (f !== filter) throw new PageTokenError(token, 'it belongs to a listing with another filter');
  return p;
}
