// Job owners in the store: recorded with each job and kept across a reopen, a database of schema 1
// (before owners) migrated in place with its jobs given the anonymous owner, listings by owner, and
// the quota of unfinished jobs per owner checked in the transaction that stores the job.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PageTokenError, QuotaExceededError } from './errors';
import { DEFAULT_OWNER, JobStore, SCHEMA_VERSION, type JobKind } from './job-store';

type Jobs = JobKind<{ size: number }, { done: number }, unknown, unknown>;

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-job-owner-'));
  file = path.join(dir, 'jobs.db');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function create(jobs: Jobs, id: string, owner?: string, maxUnfinishedPerOwner = 0): void {
  jobs.create(
    id,
    { config: { size: 1 }, progress: { done: 0 }, owner },
    { payload: { id } },
    { maxUnfinishedPerOwner },
  );
}

/**
 * The tables exactly as schema 1 created them (the code before owners existed), with two jobs and
 * their events.
 */
function writeSchema1(target: string): void {
  const db = new Database(target);
  db.exec(`
    CREATE TABLE IF NOT EXISTS jobs (
      position INTEGER PRIMARY KEY AUTOINCREMENT,
      kind TEXT NOT NULL,
      id TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled')),
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
    INSERT INTO jobs (kind, id, state, config, progress, result, created_ms, updated_ms, last_sequence)
      VALUES ('search', 'old-1', 'succeeded', '{"size":7}', '{"done":7}', '{"best":"x"}', 1000, 2000, 2),
             ('search', 'old-2', 'running', '{"size":8}', '{"done":3}', 'null', 3000, 4000, 1);
    INSERT INTO job_events (kind, job_id, sequence, time_ms, payload)
      VALUES ('search', 'old-1', 1, 1000, '{"e":1}'), ('search', 'old-1', 2, 2000, '{"e":2}'),
             ('search', 'old-2', 1, 3000, '{"e":1}');
  `);
  db.pragma('user_version = 1');
  db.close();
}

describe('job owners', () => {
  it('records the owner of each job and keeps it across a reopen', () => {
    let store = JobStore.open(file);
    create(store.kind('search'), 'a', 'alice');
    create(store.kind('search'), 'b');
    store.close();
    store = JobStore.open(file);
    try {
      expect(store.kind('search').get('a').owner).toBe('alice');
      expect(store.kind('search').get('b').owner).toBe(DEFAULT_OWNER);
    } finally {
      store.close();
    }
  });

  it('migrates a schema-1 database: its jobs and events kept, owned by the anonymous owner', () => {
    writeSchema1(file);
    const store = JobStore.open(file);
    try {
      const jobs: Jobs = store.kind('search');
      expect(jobs.get('old-1')).toMatchObject({
        owner: DEFAULT_OWNER,
        state: 'succeeded',
        config: { size: 7 },
        progress: { done: 7 },
        result: { best: 'x' },
        createdMs: 1000,
        lastSequence: 2,
      });
      expect(jobs.events('old-1', 0, 10).map((e) => e.payload)).toEqual([{ e: 1 }, { e: 2 }]);
      expect(jobs.unfinishedOf(DEFAULT_OWNER)).toBe(1);
      // The migrated database takes new jobs with owners, and its old jobs go on.
      create(jobs, 'new', 'alice');
      jobs.update('old-2', { state: 'succeeded' }, { payload: { e: 2 } });
      expect(jobs.list({ pageSize: 10, owner: DEFAULT_OWNER }).jobs.map((j) => j.id)).toEqual([
        'old-2',
        'old-1',
      ]);
      expect(jobs.list({ pageSize: 10, owner: 'alice' }).jobs.map((j) => j.id)).toEqual(['new']);
    } finally {
      store.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const columns = (db.pragma('table_info(jobs)') as { name: string }[]).map((c) => c.name);
      expect(columns).toContain('owner');
    } finally {
      db.close();
    }
  });

  it('reads a schema-1 database opened read-only (not migrated) as the anonymous owner’s', () => {
    writeSchema1(file);
    const store = JobStore.open(file, { readonly: true });
    try {
      const jobs: Jobs = store.kind('search');
      expect(jobs.get('old-2').owner).toBe(DEFAULT_OWNER);
      expect(jobs.list({ pageSize: 10, owner: DEFAULT_OWNER }).jobs).toHaveLength(2);
      expect(jobs.list({ pageSize: 10, owner: 'alice' }).jobs).toEqual([]);
      expect(jobs.unfinishedOf(DEFAULT_OWNER)).toBe(1);
    } finally {
      store.close();
    }
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    db.close();
  });

  it('lists one owner’s jobs, in pages whose tokens belong to that owner’s listing', () => {
    const store = JobStore.open(file);
    try {
      const jobs: Jobs = store.kind('search');
      for (const [id, owner] of [
        ['a1', 'alice'],
        ['b1', 'bob'],
        ['a2', 'alice'],
        ['a3', 'alice'],
      ]) {
        create(jobs, id, owner);
      }
      const first = jobs.list({ pageSize: 2, owner: 'alice' });
      expect(first.jobs.map((j) => j.id)).toEqual(['a3', 'a2']);
      expect(
        jobs.list({ pageSize: 2, owner: 'alice', pageToken: first.nextPageToken }).jobs.map((j) => j.id),
      ).toEqual(['a1']);
      expect(() => jobs.list({ pageSize: 2, owner: 'bob', pageToken: first.nextPageToken })).toThrow(
        PageTokenError,
      );
      expect(() => jobs.list({ pageSize: 2, pageToken: first.nextPageToken })).toThrow(PageTokenError);
      expect(jobs.list({ pageSize: 10 }).jobs.map((j) => j.id)).toEqual(['a3', 'a2', 'b1', 'a1']);
      // A long subject still makes a short token.
      const long = 'x'.repeat(5000);
      create(jobs, 'l1', long);
      create(jobs, 'l2', long);
      const page = jobs.list({ pageSize: 1, owner: long });
      expect(
        jobs.list({ pageSize: 1, owner: long, pageToken: page.nextPageToken }).jobs.map((j) => j.id),
      ).toEqual(['l1']);
    } finally {
      store.close();
    }
  });

  it('refuses a job beyond the owner’s quota of unfinished jobs, counting queued, running and cancelling', () => {
    const store = JobStore.open(file);
    try {
      const jobs: Jobs = store.kind('search');
      create(jobs, 'q', 'alice', 3);
      create(jobs, 'r', 'alice', 3);
      create(jobs, 'c', 'alice', 3);
      jobs.update('r', { state: 'running' });
      jobs.update('c', { state: 'running' });
      jobs.update('c', { state: 'cancelling' });
      let refusal: unknown;
      try {
        create(jobs, 'd', 'alice', 3);
      } catch (err) {
        refusal = err;
      }
      expect(refusal).toBeInstanceOf(QuotaExceededError);
      expect(refusal).toMatchObject({ owner: 'alice', unfinished: 3, limit: 3 });
      expect(jobs.find('d')).toBeUndefined();
      expect(jobs.events('d', 0, 10)).toEqual([]);
      // Another owner has a quota of its own; 0 is no limit.
      create(jobs, 'b', 'bob', 3);
      create(jobs, 'e', 'alice', 0);
      // A finished job frees its place.
      jobs.update('c', { state: 'cancelled' });
      jobs.update('e', { state: 'failed' });
      create(jobs, 'd', 'alice', 3);
      expect(jobs.get('d').owner).toBe('alice');
      expect(jobs.unfinishedOf('alice')).toBe(3);
    } finally {
      store.close();
    }
  });
});
