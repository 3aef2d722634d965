import { JobQueue } from './job-queue';
import { JobInterruptedError } from './worker-task';

/**
 * A run function whose jobs end when the test says so, or when they are interrupted; a cancelled
 * job ends too, unless `ignoreCancel` (a job busy far from its next safe point).
 */
function controllableRuns(options: { ignoreCancel?: boolean } = {}): {
  run: (id: string, cancel: AbortSignal, interrupt: AbortSignal) => Promise<void>;
  started: string[];
  finish: (id: string) => void;
  reasons: Map<string, unknown>;
  interrupted: Map<string, unknown>;
} {
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const reasons = new Map<string, unknown>();
  const interrupted = new Map<string, unknown>();
  return {
    started,
    reasons,
    interrupted,
    finish: (id) => finishers.get(id)?.(),
    run: (id, cancel, interrupt) =>
      new Promise<void>((resolve) => {
        started.push(id);
        finishers.set(id, resolve);
        cancel.addEventListener('abort', () => {
          reasons.set(id, cancel.reason);
          if (!options.ignoreCancel) resolve();
        });
        interrupt.addEventListener('abort', () => {
          interrupted.set(id, interrupt.reason);
          resolve();
        });
      }),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('JobQueue', () => {
  it('runs at most `concurrency` jobs, the others in the order they came', async () => {
    const runs = controllableRuns();
    const queue = new JobQueue({ concurrency: 2, run: runs.run, onError: () => undefined });
    for (const id of ['a', 'b', 'c', 'd', 'a']) queue.enqueue(id);
    await tick();
    expect(runs.started).toEqual(['a', 'b']);
    expect(queue.waitingIds).toEqual(['c', 'd']);
    runs.finish('b');
    await tick();
    expect(runs.started).toEqual(['a', 'b', 'c']);
    expect(queue.runningIds.sort()).toEqual(['a', 'c']);
    await queue.close();
  });

  it('cancels a waiting job by removing it and a running one through its signal', async () => {
    const runs = controllableRuns();
    const queue = new JobQueue({ concurrency: 1, run: runs.run, onError: () => undefined });
    queue.enqueue('a');
    queue.enqueue('b');
    queue.enqueue('c');
    await tick();
    expect(queue.cancel('b', new Error('cancelled'))).toBe('waiting');
    const reason = new Error('cancelled by the client');
    expect(queue.cancel('a', reason)).toBe('running');
    expect(queue.cancel('zzz', reason)).toBe('absent');
    await tick();
    expect(runs.reasons.get('a')).toBe(reason);
    expect(runs.started).toEqual(['a', 'c']);
    await queue.close();
  });

  it('passes failures of run to onError and goes on with the next job', async () => {
    const errors: [string, unknown][] = [];
    const ran: string[] = [];
    const queue = new JobQueue({
      concurrency: 1,
      run: async (id) => {
        ran.push(id);
        if (id === 'bad') throw new Error('boom');
      },
      onError: (id, error) => errors.push([id, error]),
    });
    queue.enqueue('bad');
    queue.enqueue('good');
    await tick();
    await tick();
    expect(ran).toEqual(['bad', 'good']);
    expect(errors).toHaveLength(1);
    expect(errors[0][0]).toBe('bad');
    expect((errors[0][1] as Error).message).toBe('boom');
    await queue.close();
  });

  it('interrupts running jobs on close, drops waiting ones and refuses new ones', async () => {
    const runs = controllableRuns();
    const queue = new JobQueue({ concurrency: 1, run: runs.run, onError: () => undefined });
    queue.enqueue('a');
    queue.enqueue('b');
    await tick();
    await queue.close();
    expect(runs.interrupted.get('a')).toBeInstanceOf(JobInterruptedError);
    expect(runs.reasons.has('a')).toBe(false);
    expect(runs.started).toEqual(['a']);
    expect(() => queue.enqueue('c')).toThrow('closed');
  });

  it('interrupts on close a job whose cancellation is still under way', async () => {
    const runs = controllableRuns({ ignoreCancel: true });
    const queue = new JobQueue({ concurrency: 1, run: runs.run, onError: () => undefined });
    queue.enqueue('a');
    await tick();
    const reason = new Error('cancelled by the client');
    expect(queue.cancel('a', reason)).toBe('running');
    await tick();
    expect(runs.reasons.get('a')).toBe(reason);
    expect(queue.runningIds).toEqual(['a']);
    // close() resolves only once the run has ended: it would wait forever if the interrupt did
    // not reach a job that was cancelled first.
    await queue.close();
    expect(runs.interrupted.get('a')).toBeInstanceOf(JobInterruptedError);
    expect(queue.runningIds).toEqual([]);
  });

  it('refuses a concurrency below 1', () => {
    expect(
      () => new JobQueue({ concurrency: 0, run: async () => undefined, onError: () => undefined }),
    ).toThrow('concurrency must be an integer >= 1, got 0');
  });
});
