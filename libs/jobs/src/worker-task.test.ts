// Workers run compiled JavaScript, so this suite builds the package first (incremental: about a
// second when nothing changed) and writes its job scripts next to a temporary folder.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { JobInterruptedError, runWorkerTask, WorkerTaskError } from './worker-task';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DIST = path.join(ROOT, 'libs', 'jobs', 'dist', 'index.js');

let dir: string;
let script: string;

/**
 * A job that counts: one event per step, a pause between steps, cancellable between steps; or,
 * with `busy`, one event and then a loop that only terminating the thread can end.
 */
const COUNTING_JOB = `
const { serveWorkerTask } = require(${JSON.stringify(DIST)});
serveWorkerTask(async (input, { signal, emit }) => {
  if (input.fail === 'coded') throw Object.assign(new Error('bad dataset'), { code: 'INVALID_ARGUMENT' });
  if (input.fail === 'crash') process.exit(3);
  if (input.busy) {
    // Busy far from any safe point: never reads a cancel message, never ends by itself.
    emit({ step: 0 });
    for (;;) {}
  }
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

/** A signal nothing aborts. */
const never = (): AbortSignal => new AbortController().signal;

describe('runWorkerTask', () => {
  it('delivers the events in order and resolves with the result', async () => {
    const events: unknown[] = [];
    const result = await runWorkerTask<{ step: number }, { total: number }>({
      script,
      input: { steps: 4, pauseMs: 1 },
      cancel: never(),
      interrupt: never(),
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
      cancel: controller.signal,
      interrupt: never(),
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

  // A busy worker never ends by itself, so a settled task proves that the thread was terminated:
  // the task rejects only once terminate() has completed.
  it('terminates a busy worker on a shutdown, and settles once the thread is gone', async () => {
    const interrupt = new AbortController();
    const outcome = runWorkerTask({
      script,
      input: { busy: true },
      cancel: never(),
      interrupt: interrupt.signal,
      onEvent: () => interrupt.abort(new JobInterruptedError()),
    });
    await expect(outcome).rejects.toBeInstanceOf(JobInterruptedError);
  });

  it('terminates on a shutdown a worker whose cancellation is under way', async () => {
    const cancel = new AbortController();
    const interrupt = new AbortController();
    let events = 0;
    const outcome = runWorkerTask({
      script,
      input: { busy: true },
      cancel: cancel.signal,
      interrupt: interrupt.signal,
      onEvent: () => {
        events++;
        cancel.abort(new Error('cancelled by the client'));
        setImmediate(() => interrupt.abort(new JobInterruptedError()));
      },
    });
    await expect(outcome).rejects.toBeInstanceOf(JobInterruptedError);
    expect(events).toBe(1);
  });

  it('does not start a worker when the shutdown came first', async () => {
    const interrupt = new AbortController();
    interrupt.abort(new JobInterruptedError());
    let events = 0;
    await expect(
      runWorkerTask({
        script,
        input: { steps: 3, pauseMs: 1 },
        cancel: never(),
        interrupt: interrupt.signal,
        onEvent: () => events++,
      }),
    ).rejects.toBeInstanceOf(JobInterruptedError);
    expect(events).toBe(0);
  });

  it('passes on the code of a domain error, and reports a worker that dies', async () => {
    const coded = (await runWorkerTask({
      script,
      input: { fail: 'coded' },
      cancel: never(),
      interrupt: never(),
      onEvent: () => undefined,
    }).catch((e: unknown) => e)) as WorkerTaskError;
    expect(coded).toMatchObject({ message: 'bad dataset', code: 'INVALID_ARGUMENT', cancelled: false });
    await expect(
      runWorkerTask({
        script,
        input: { fail: 'crash' },
        cancel: never(),
        interrupt: never(),
        onEvent: () => undefined,
      }),
    ).rejects.toThrow('job worker exited with code 3 before reporting a result');
  });

  it('fails the task when storing an event fails', async () => {
    await expect(
      runWorkerTask({
        script,
        input: { steps: 100, pauseMs: 5 },
        cancel: never(),
        interrupt: never(),
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
        cancel: never(),
        interrupt: never(),
        onEvent: () => undefined,
      }),
    ).rejects.toThrow('build the workspace first (npx tsc -b)');
  });
});
