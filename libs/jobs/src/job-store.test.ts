import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { DuplicateJobError, JobNotFoundError, JobStateError, PageTokenError } from './errors';
import { JobStore, SCHEMA_VERSION, toStoredJson, type JobKind } from './job-store';

const ROOT = path.resolve(__dirname, '..', '..', '..');

interface Config {
  size: number;
}
interface Progress {
  done: number;
  loss?: number;
}
interface Result {
  best: string;
}
type Event = { kind: string; n?: number; state?: string };

let dir: string;
let store: JobStore;
let jobs: JobKind<Config, Progress, Result, Event>;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-jobs-'));
  store = JobStore.open(path.join(dir, 'state', 'jobs.db'));
  jobs = store.kind('search');
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function created(id: string): void {
  jobs.create(id, { config: { size: 1 }, progress: { done: 0 } }, { payload: { kind: 'queued' } });
}

describe('JobStore', () => {
  it('creates the database in WAL mode with full synchronous commits', () => {
    const db = new Database(store.file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it('stores a queued job with its first event and reads it back', () => {
    const before = Date.now();
    const job = jobs.create(
      'a',
      { config: { size: 3 }, progress: { done: 0 } },
      { from: (j) => ({ kind: 'state', state: j.state, n: j.lastSequence }) },
    );
    expect(job).toMatchObject({
      kind: 'search',
      id: 'a',
      state: 'queued',
      config: { size: 3 },
      progress: { done: 0 },
      result: null,
      error: '',
      startedMs: 0,
      finishedMs: 0,
      resumes: 0,
      lastSequence: 1,
    });
    expect(job.createdMs).toBeGreaterThanOrEqual(before);
    expect(jobs.get('a')).toEqual(job);
    expect(jobs.events('a', 0, 10)).toEqual([
      { sequence: 1, timeMs: job.createdMs, payload: { kind: 'state', state: 'queued', n: 1 } },
    ]);
  });

  it('refuses a duplicate id and answers JobNotFoundError for an unknown one', () => {
    created('a');
    expect(() => created('a')).toThrow(DuplicateJobError);
    expect(() => jobs.get('nope')).toThrow(JobNotFoundError);
    expect(() => jobs.get('nope')).toThrow('search "nope" not found');
    expect(jobs.find('nope')).toBeUndefined();
    expect(() => jobs.update('nope', { state: 'running' })).toThrow(JobNotFoundError);
    // Kinds are separate namespaces in one database.
    expect(store.kind('training').find('a')).toBeUndefined();
  });

  it('follows the lifecycle: start and finish times, resumes, and refused transitions', () => {
    created('a');
    const running = jobs.update('a', { state: 'running' }, { payload: { kind: 'running' } });
    expect(running.startedMs).toBeGreaterThan(0);
    expect(running.lastSequence).toBe(2);
    const resumed = jobs.update('a', { state: 'running', resumed: true });
    expect(resumed.resumes).toBe(1);
    expect(resumed.startedMs).toBe(running.startedMs);
    expect(resumed.lastSequence).toBe(2);
    const done = jobs.update(
      'a',
      { state: 'succeeded', result: { best: 'x' } },
      { from: (j) => ({ kind: j.state }) },
    );
    expect(done.finishedMs).toBeGreaterThanOrEqual(done.startedMs);
    expect(done.result).toEqual({ best: 'x' });
    expect(() => jobs.update('a', { state: 'running' })).toThrow(JobStateError);
    expect(() => jobs.update('a', { state: 'cancelled' })).toThrow(
      'search "a" is succeeded; it cannot become cancelled',
    );
    // A failed transition changes nothing, not even the event log.
    expect(jobs.get('a')).toEqual(done);
    expect(jobs.events('a', 0, 10).map((e) => e.payload.kind)).toEqual(['queued', 'running', 'succeeded']);

    created('b');
    const cancelled = jobs.update('b', { state: 'cancelled' });
    expect(cancelled.startedMs).toBe(0);
    expect(cancelled.finishedMs).toBeGreaterThan(0);
  });

  it('numbers each job’s events from 1 without gaps and pages through them', () => {
    created('a');
    created('b');
    for (let n = 0; n < 5; n++) {
      jobs.append('a', { payload: { kind: 'tick', n } }, { progress: { done: n + 1 } });
      jobs.append('b', { payload: { kind: 'tock', n } });
    }
    expect(jobs.get('a').lastSequence).toBe(6);
    expect(jobs.get('a').progress).toEqual({ done: 5 });
    expect(jobs.events('a', 0, 100).map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(jobs.events('a', 2, 2).map((e) => e.payload)).toEqual([
      { kind: 'tick', n: 1 },
      { kind: 'tick', n: 2 },
    ]);
    expect(jobs.events('b', 6, 10)).toEqual([]);
  });

  it('keeps non-finite numbers as the protobuf JSON strings', () => {
    created('a');
    jobs.append('a', { payload: { kind: 'x' } }, { progress: { done: 1, loss: Number.NaN } });
    expect(jobs.get('a').progress).toEqual({ done: 1, loss: 'NaN' });
    expect(toStoredJson({ a: Infinity, b: -Infinity, c: [1, NaN] })).toBe(
      '{"a":"Infinity","b":"-Infinity","c":[1,"NaN"]}',
    );
  });

  it('lists newest first in pages, filtered by state, with tokens bound to their listing', () => {
    for (let i = 0; i < 7; i++) created(`j${i}`);
    for (const id of ['j1', 'j4', 'j6']) jobs.update(id, { state: 'running' });
    const first = jobs.list({ pageSize: 3 });
    expect(first.jobs.map((j) => j.id)).toEqual(['j6', 'j5', 'j4']);
    const second = jobs.list({ pageSize: 3, pageToken: first.nextPageToken });
    expect(second.jobs.map((j) => j.id)).toEqual(['j3', 'j2', 'j1']);
    const third = jobs.list({ pageSize: 3, pageToken: second.nextPageToken });
    expect(third.jobs.map((j) => j.id)).toEqual(['j0']);
    expect(third.nextPageToken).toBe('');

    const running = jobs.list({ pageSize: 2, states: ['running'] });
    expect(running.jobs.map((j) => j.id)).toEqual(['j6', 'j4']);
    expect(
      jobs.list({ pageSize: 2, states: ['running'], pageToken: running.nextPageToken }).jobs.map((j) => j.id),
    ).toEqual(['j1']);
    // A token of the filtered listing does not continue the unfiltered one, nor another kind's.
    expect(() => jobs.list({ pageSize: 2, pageToken: running.nextPageToken })).toThrow(PageTokenError);
    expect(() => store.kind('training').list({ pageSize: 2, pageToken: first.nextPageToken })).toThrow(
      'another filter',
    );
    for (const bad of [
      '%%%',
      'x'.repeat(1000),
      Buffer.from('{"p":-1,"f":"search:"}').toString('base64url'),
      'bm90IGpzb24',
    ]) {
      expect(() => jobs.list({ pageSize: 2, pageToken: bad })).toThrow(PageTokenError);
    }
  });

  it('finds the jobs to resume, oldest first, and counts jobs by state', () => {
    for (let i = 0; i < 4; i++) created(`j${i}`);
    jobs.update('j2', { state: 'running' });
    jobs.update('j0', { state: 'running' });
    jobs.update('j3', { state: 'cancelled' });
    expect(jobs.inStates(['running', 'queued']).map((j) => j.id)).toEqual(['j0', 'j1', 'j2']);
    expect(jobs.inStates([])).toEqual([]);
    expect(jobs.countByState()).toEqual({
      queued: 1,
      running: 2,
      cancelling: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 1,
    });
  });

  it('tells subscribers about each committed event, and only for their job', () => {
    created('a');
    created('b');
    const seen: string[] = [];
    const off = jobs.onEvent('a', () => seen.push(`a${jobs.get('a').lastSequence}`));
    jobs.append('a', { payload: { kind: 'x' } });
    jobs.append('b', { payload: { kind: 'y' } });
    jobs.update('a', { progress: { done: 3 } });
    jobs.append('a', { payload: { kind: 'z' } });
    off();
    jobs.append('a', { payload: { kind: 'w' } });
    expect(seen).toEqual(['a2', 'a3']);
  });

  it('reopens with everything in place, read-only too, and refuses a newer schema', () => {
    created('a');
    jobs.append('a', { payload: { kind: 'x' } });
    store.close();
    const readonly = JobStore.open(path.join(dir, 'state', 'jobs.db'), { readonly: true });
    expect(readonly.kind('search').get('a').lastSequence).toBe(2);
    expect(() => readonly.kind('search').append('a', { payload: {} })).toThrow(/readonly/);
    readonly.close();
    expect(() => JobStore.open(path.join(dir, 'missing.db'), { readonly: true })).toThrow();
    store = JobStore.open(path.join(dir, 'state', 'jobs.db'));
    jobs = store.kind('search');
    expect(jobs.events('a', 0, 10)).toHaveLength(2);

    const newer = path.join(dir, 'newer.db');
    const db = new Database(newer);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => JobStore.open(newer)).toThrow(`schema version ${SCHEMA_VERSION + 1}`);
    writeFileSync(path.join(dir, 'garbage.db'), 'this is not a database, not even close to one');
    expect(() => JobStore.open(path.join(dir, 'garbage.db'))).toThrow();
  });

  it('loses nothing it acknowledged when the process is killed right after (kill -9)', async () => {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'libs/jobs'], { cwd: ROOT });
    const file = path.join(dir, 'crash.db');
    const script = `
      const { JobStore } = require(${JSON.stringify(path.join(ROOT, 'libs/jobs/dist/index.js'))});
      const jobs = JobStore.open(${JSON.stringify(file)}).kind('search');
      for (let i = 0; i < 50; i++) {
        jobs.create('job' + i, { config: { i }, progress: {} }, { payload: { i } });
        jobs.append('job' + i, { payload: { i, more: true } });
        process.stdout.write('ack job' + i + '\\n');
      }
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged = await new Promise<number>((resolve) => {
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const acks = text.split('\n').filter((l) => l.startsWith('ack')).length;
        if (acks >= 20) {
          child.kill('SIGKILL');
          resolve(acks);
        }
      });
    });
    await new Promise((resolve) => child.on('exit', resolve));
    expect(existsSync(`${file}-wal`)).toBe(true);
    const reopened = JobStore.open(file);
    try {
      const crashed = reopened.kind('search');
      for (let i = 0; i < acknowledged; i++) {
        expect(crashed.get(`job${i}`).lastSequence).toBe(2);
        expect(crashed.events(`job${i}`, 0, 10).map((e) => e.payload)).toEqual([{ i }, { i, more: true }]);
      }
    } finally {
      reopened.close();
    }
  });
});
