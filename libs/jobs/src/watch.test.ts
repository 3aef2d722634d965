import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { JobNotFoundError } from './errors';
import { JobStore, type JobKind } from './job-store';
import { watchJob, type WatchedEvent } from './watch';

type Event = { n: number };

let dir: string;
let store: JobStore;
let jobs: JobKind<null, null, null, Event>;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-watch-'));
  store = JobStore.open(path.join(dir, 'jobs.db'));
  jobs = store.kind('search');
  jobs.create('a', { config: null, progress: null }, { payload: { n: 0 } });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function collect(
  iterable: AsyncIterable<WatchedEvent<Event>>,
  onEach: (e: WatchedEvent<Event>) => void = () => undefined,
): Promise<[number, number, boolean][]> {
  const out: [number, number, boolean][] = [];
  for await (const e of iterable) {
    out.push([e.event.sequence, e.event.payload.n, e.replayed]);
    onEach(e);
  }
  return out;
}

describe('watchJob', () => {
  it('replays the history, then follows live events until the job is terminal', async () => {
    jobs.append('a', { payload: { n: 1 } });
    jobs.update('a', { state: 'running' }, { payload: { n: 2 } });
    const controller = new AbortController();
    const seen = collect(watchJob(jobs, 'a', 0, controller.signal));
    // Live events arrive from later turns of the event loop, as a worker's would.
    for (let n = 3; n <= 5; n++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      jobs.append('a', { payload: { n } });
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    jobs.update('a', { state: 'succeeded' }, { payload: { n: 6 } });
    expect(await seen).toEqual([
      [1, 0, true],
      [2, 1, true],
      [3, 2, true],
      [4, 3, false],
      [5, 4, false],
      [6, 5, false],
      [7, 6, false],
    ]);
  });

  it('resumes after a sequence, and a late watcher of a finished job gets the whole history', async () => {
    for (let n = 1; n <= 300; n++) jobs.append('a', { payload: { n } });
    jobs.update('a', { state: 'cancelled' }, { payload: { n: 301 } });
    const all = await collect(watchJob(jobs, 'a', 0, new AbortController().signal));
    expect(all.map(([seq]) => seq)).toEqual(Array.from({ length: 302 }, (_, i) => i + 1));
    expect(all.every(([, , replayed]) => replayed)).toBe(true);
    const after = await collect(watchJob(jobs, 'a', 299, new AbortController().signal));
    expect(after.map(([seq]) => seq)).toEqual([300, 301, 302]);
    expect(await collect(watchJob(jobs, 'a', 302, new AbortController().signal))).toEqual([]);
  });

  it('sees events appended while the consumer is busy with earlier ones, without gaps', async () => {
    jobs.update('a', { state: 'running' });
    const seen = await collect(watchJob(jobs, 'a', 0, new AbortController().signal), (e) => {
      if (e.event.sequence < 4) jobs.append('a', { payload: { n: e.event.sequence } });
      else if (e.event.sequence === 4) jobs.update('a', { state: 'failed' }, { payload: { n: 99 } });
    });
    expect(seen.map(([seq]) => seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('stops waiting as soon as the signal aborts, leaving no subscriber behind', async () => {
    jobs.update('a', { state: 'running' });
    const controller = new AbortController();
    const iterator = watchJob(jobs, 'a', 1, controller.signal);
    const next = iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort(new Error('client went away'));
    expect(await next).toEqual({ done: true, value: undefined });
    let called = false;
    jobs.onEvent('a', () => (called = true));
    jobs.append('a', { payload: { n: 7 } });
    expect(called).toBe(true);
    expect(
      (store as unknown as { listeners: Map<string, Set<unknown>> }).listeners.get('search\u0000a')?.size,
    ).toBe(1);
  });

  it('fails with JobNotFoundError for an unknown job', async () => {
    await expect(collect(watchJob(jobs, 'nope', 0, new AbortController().signal))).rejects.toThrow(
      JobNotFoundError,
    );
  });
});
