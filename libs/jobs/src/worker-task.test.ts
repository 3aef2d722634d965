// Workers run compiled JavaScript, so this suite builds the package first (incremental: about a
// second when nothing changed) and writes its job scripts next to a temporary folder.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { JobInterruptedError, runWorkerTask, WorkerTaskError } from './worker-task';
import { writeFileAtomic } from '@rnas/engine';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DIST = path.join(ROOT, 'libs', 'jobs', 'dist', 'index.js');

let dir: string;
let script: string;

/** A job that counts: one event per step, a pause between steps, cancellable between steps. */
const COUNTING_JOB = `
const { serveWorkerTask } = require(${JSON.stringify(DIST)});
serveWorkerTask(async (input, { signal, emit }) => {
  if (input.fail === 'coded') throw Object.assign(new Error('bad dataset'), { code: 'INVALID_ARGUMENT' });
  if (input.fail === 'crash') process.exit(3);
  for (let step = 0; step < input.steps; step++) {
    if (signal.aborted) throw new Error('stopped at step ' + step);
    emit({ step });
    await new Promise((resolve) => setTimeout(resolve, input.pauseMs));
  }
  return { total: input.steps };
});
`;

beforeAll(() => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'libs/jobs'], { cwd: ROOT });
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-worker-task-'));
  script = path.join(dir, 'counting-job.js');
  writeFileSync(script, COUNTING_JOB);
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('runWorkerTask', () => {
  it('delivers the events in order and resolves with the result', async () => {
    const events: unknown[] = [];
    const result = await runWorkerTask<{ step: number }, { total: number }>({
      script,
      input: { steps: 4, pauseMs: 1 },
      signal: new AbortController().signal,
      onEvent: (e) => events.push(e),
    });
    expect(result).toEqual({ total: 4 });
    expect(events).toEqual([{ step: 0 }, { step: 1 }, { step: 2 }, { step: 3 }]);
  });

  it('cancels at the worker’s next safe point and reports it as a cancellation', async () => {
    const controller = new AbortController();
    const events: { step: number }[] = [];
    const outcome = runWorkerTask<{ step: number }, unknown>({
      script,
      input: { steps: 1000, pauseMs: 20 },
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.step === 2) controller.abort(new Error('cancelled by the client'));
      },
    });
    const error = (await outcome.catch((e: unknown) => e)) as WorkerTaskError;
    expect(error).toBeInstanceOf(WorkerTaskError);
    expect(error.cancelled).toBe(true);
    expect(error.message).toBe('stopped at step 3');
    expect(events.map((e) => e.step)).toEqual([0, 1, 2]);
  });

  it('terminates the worker at once on a shutdown', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const outcome = runWorkerTask({
      script,
      input: { steps: 1000, pauseMs: 1000 },
      signal: controller.signal,
      onEvent: () => controller.abort(new JobInterruptedError()),
    });
    await expect(outcome).rejects.toBeInstanceOf(JobInterruptedError);
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('passes on the code of a domain error, and reports a worker that dies', async () => {
    const coded = (await runWorkerTask({
      script,
      input: { fail: 'coded' },
      signal: new AbortController().signal,
      onEvent: () => undefined,
    }).catch((e: unknown) => e)) as WorkerTaskError;
    expect(coded).toMatchObject({ message: 'bad dataset', code: 'INVALID_ARGUMENT', cancelled: false });
    await expect(
      runWorkerTask({
        script,
        input: { fail: 'crash' },
        signal: new AbortController().signal,
        onEvent: () => undefined,
      }),
    ).rejects.toThrow('job worker exited with code 3 before reporting a result');
  });

  it('fails the task when storing an event fails', async () => {
    await expect(
      runWorkerTask({
        script,
        input: { steps: 100, pauseMs: 5 },
        signal: new AbortController().signal,
        onEvent: () => {
          throw new Error('disk full');
        },
      }),
    ).rejects.toThrow('disk full');
  });

  it('says how to build when the script is missing', async () => {
    await expect(
      runWorkerTask({
        script: path.join(dir, 'missing.js'),
        input: {},
        signal: new AbortController().signal,
        onEvent: () => undefined,
      }),
    ).rejects.toThrow('build the workspace first (npx tsc -b)');
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temporary file behind', async () => {
    const file = path.join(dir, 'marker.json');
    await writeFileAtomic(file, '{"a":1}');
    await writeFileAtomic(file, new Uint8Array(Buffer.from('{"a":2}')));
    expect(readFileSync(file, 'utf8')).toBe('{"a":2}');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await expect(writeFileAtomic(path.join(dir, 'no', 'such', 'dir.json'), 'x')).rejects.toThrow(
      /dir\.json: cannot write/,
    );
  });
});
