// Which jobs run now: at most `concurrency` at once, the others waiting in the order they came.
// The queue only schedules; what running a job means (a worker, state changes, events) is the
// service's `run` function, which gets two signals: one for cancellation, one for shutdown. They are
// separate because a job can be both: a shutdown must still stop a job whose cancellation is under
// way (an AbortSignal aborts once, so one signal could not say "interrupted" after "cancelled").
import { JobInterruptedError } from './worker-task';

export interface JobQueueOptions {
  /** Jobs running at the same time, >= 1. */
  concurrency: number;
  /**
   * Runs one job to its end. `cancel` aborts with an Error to cancel the job; `interrupt` aborts
   * with a JobInterruptedError when the service shuts down (the job must then stop at once and stay
   * resumable), whether or not it was cancelled before. Rejections are passed to `onError`: `run`
   * is expected to record failures itself.
   */
  run: (id: string, cancel: AbortSignal, interrupt: AbortSignal) => Promise<void>;
  onError: (id: string, error: unknown) => void;
}

export class JobQueue {
  private readonly waiting: string[] = [];
  private readonly running = new Map<
    string,
    { cancel: AbortController; interrupt: AbortController; done: Promise<void> }
  >();
  private closed = false;

  constructor(private readonly options: JobQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new Error(`job queue: concurrency must be an integer >= 1, got ${options.concurrency}`);
    }
  }

  /** Jobs running now. */
  get runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Jobs waiting for a slot, first to run first. */
  get waitingIds(): string[] {
    return [...this.waiting];
  }

  /** Adds a job; it starts as soon as a slot is free. Ignored when it is already queued or running. */
  enqueue(id: string): void {
    if (this.closed) throw new Error('job queue: closed');
    if (this.running.has(id) || this.waiting.includes(id)) return;
    this.waiting.push(id);
    this.pump();
  }

  /**
   * Cancels a job: a waiting one leaves the queue ('waiting'), a running one has its signal
   * aborted with `reason` ('running'); 'absent' when the queue does not hold it.
   */
  cancel(id: string, reason: Error): 'waiting' | 'running' | 'absent' {
    const at = this.waiting.indexOf(id);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      return 'waiting';
    }
    const entry = this.running.get(id);
    if (entry === undefined) return 'absent';
    entry.cancel.abort(reason);
    return 'running';
  }

  /** Interrupts every running job (JobInterruptedError), drops the waiting ones, and waits for the runs to end. */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    const entries = [...this.running.values()];
    for (const entry of entries) entry.interrupt.abort(new JobInterruptedError());
    await Promise.all(entries.map((entry) => entry.done));
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.options.concurrency && this.waiting.length > 0) {
      const id = this.waiting.shift() as string;
      const cancel = new AbortController();
      const interrupt = new AbortController();
      const done = Promise.resolve()
        .then(() => this.options.run(id, cancel.signal, interrupt.signal))
        .catch((error: unknown) => this.options.onError(id, error))
        .finally(() => {
          this.running.delete(id);
          this.pump();
        });
      this.running.set(id, { cancel, interrupt, done });
    }
  }
}
