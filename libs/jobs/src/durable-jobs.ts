// A service's durable jobs of one kind: stored before they are acknowledged, queued, run on worker
// threads, cancelled, watched, and resumed after a restart. The lifecycle lives here once; a
// service supplies what is its own: the stored event of a state change, the worker and its input,
// what the worker's events mean, and how a resumed job picks up its checkpoint.
//
// Every job belongs to the subject that started it. A user sees (gets, lists, watches, cancels)
// only their own jobs, an admin every job (canAccess); another's job is NOT_FOUND with the very
// message of an id that does not exist, so that ids do not leak. A subject may have at most
// `maxJobsPerSubject` unfinished jobs, counted in the transaction that stores a new one.
import {
  canAccess,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  type Logger,
  type Principal,
} from '@rnas/grpc';
import { QuotaExceededError } from './errors';
import { JobQueue } from './job-queue';
import type { JobState } from './job-state';
import type { EventSource, JobKind, JobPage, JobPatch, JobRecord, NewJob } from './job-store';
import { MAX_JOBS_PER_SUBJECT_OPTION } from './job-options';
import { watchJob, type WatchedEvent } from './watch';
import { JobInterruptedError, runWorkerTask, WorkerTaskError } from './worker-task';

/** Ids are UUIDs; anything longer cannot name a job (and is never looked up). */
const MAX_ID_CHARS = 128;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

export interface DurableJobsOptions<Config, Progress, Result, Payload, WorkerEvent, WorkerResult> {
  jobs: JobKind<Config, Progress, Result, Payload>;
  /** The job's name in messages and NOT_FOUND errors, e.g. `search`. */
  noun: string;
  /** The id's request field, e.g. `search_id`. */
  idField: string;
  maxRunning: number;
  /** Unfinished (queued, running, cancelling) jobs one subject may have; 0: no limit. */
  maxJobsPerSubject: number;
  logger: Logger;
  /** The stored event of a change to `state`, made from the job after the change. */
  stateEvent(state: JobState, reason: string): EventSource<Config, Progress, Result, Payload>;
  /** The compiled worker script and its input for a job. */
  worker(job: JobRecord<Config, Progress, Result>): { script: string; input: unknown };
  /**
   * Before a job that was RUNNING when the service stopped runs again: brings the stored job up
   * to date with its checkpoint and returns the reason of its RUNNING state change.
   */
  resume(job: JobRecord<Config, Progress, Result>, logger: Logger): Promise<string>;
  /** Stores what one worker event means; runs on this thread, in the order the worker sent them. */
  onEvent(id: string, event: WorkerEvent): void;
  /** The final patch and reason of a job whose worker finished. */
  succeeded(
    job: JobRecord<Config, Progress, Result>,
    result: WorkerResult,
  ): { patch: JobPatch<Progress, Result>; reason: string };
  /** The reason of a cancellation that took effect. */
  cancelled(job: JobRecord<Config, Progress, Result>): string;
  /** After every run, however it ended (per-job metrics). */
  runEnded?(id: string): void;
  /**
   * The failure a client reads (the job's `error` and its FAILED event) of a job whose run failed
   * with `message`: e.g. with the server's paths taken out. The log keeps `message`. Default: it.
   */
  clientError?(job: JobRecord<Config, Progress, Result>, message: string): string;
}

export class DurableJobs<Config, Progress, Result, Payload, WorkerEvent, WorkerResult> {
  private readonly queue: JobQueue;
  private readonly jobs: JobKind<Config, Progress, Result, Payload>;

  constructor(
    private readonly options: DurableJobsOptions<
      Config,
      Progress,
      Result,
      Payload,
      WorkerEvent,
      WorkerResult
    >,
  ) {
    this.jobs = options.jobs;
    this.queue = new JobQueue({
      concurrency: options.maxRunning,
      run: (id, cancel, interrupt) => this.run(id, cancel, interrupt),
      onError: (id, error) =>
        options.logger.error(
          { err: error, [options.idField]: id },
          `${options.noun} run failed unexpectedly`,
        ),
    });
  }

  /** Jobs by state (metrics). */
  countByState(): Record<JobState, number> {
    return this.jobs.countByState();
  }

  /**
   * After a start: a job that was cancelling is cancelled (the cancellation was acknowledged),
   * running ones are resumed first, then the queued ones run in the order they came.
   */
  recover(): void {
    for (const job of this.jobs.inStates(['cancelling'])) {
      this.jobs.update(
        job.id,
        { state: 'cancelled' },
        this.options.stateEvent('cancelled', 'the service restarted while the job was stopping'),
      );
    }
    const running = this.jobs.inStates(['running']);
    const queued = this.jobs.inStates(['queued']);
    if (running.length + queued.length > 0) {
      this.options.logger.info(
        { resuming: running.length, queued: queued.length },
        `recovering ${this.options.noun} jobs`,
      );
    }
    for (const job of [...running, ...queued]) this.queue.enqueue(job.id);
  }

  /**
   * RESOURCE_EXHAUSTED when `principal` already has as many unfinished jobs as a subject may: a
   * cheap early answer, before a request is validated (create checks again, race-free).
   */
  admit(principal: Principal): void {
    const limit = this.options.maxJobsPerSubject;
    if (limit === 0) return;
    const unfinished = this.jobs.unfinishedOf(principal.subject);
    if (unfinished >= limit) throw this.quotaExceeded(principal.subject, unfinished, limit);
  }

  /**
   * Stores a new job of `principal` (acknowledged once this returns) and queues it;
   * RESOURCE_EXHAUSTED when it would exceed the subject's quota, counted in the same transaction.
   */
  create(
    principal: Principal,
    id: string,
    fields: Omit<NewJob<Config, Progress>, 'owner'>,
  ): JobRecord<Config, Progress, Result> {
    let job: JobRecord<Config, Progress, Result>;
    try {
      job = this.jobs.create(
        id,
        { ...fields, owner: principal.subject },
        this.options.stateEvent('queued', 'accepted'),
        { maxUnfinishedPerOwner: this.options.maxJobsPerSubject },
      );
    } catch (err) {
      if (err instanceof QuotaExceededError) throw this.quotaExceeded(err.owner, err.unfinished, err.limit);
      throw err;
    }
    this.queue.enqueue(id);
    return job;
  }

  /**
   * The job, when `principal` may see it; INVALID_ARGUMENT for an empty id, NOT_FOUND for an
   * unknown one and, with the same message, for another subject's job (a user's).
   */
  find(principal: Principal, id: string): JobRecord<Config, Progress, Result> {
    if (typeof id !== 'string' || id === '') {
      throw new InvalidArgumentError(this.options.idField, id, `a ${this.options.noun} id is required`);
    }
    const job = id.length > MAX_ID_CHARS ? undefined : this.jobs.find(id);
    if (job === undefined || !canAccess(principal, job.owner)) throw new NotFoundError(this.options.noun, id);
    return job;
  }

  /**
   * One page of the jobs `principal` may see (a user's own, every job for an admin), newest first;
   * page_size 0 means 50, more than 1000 is INVALID_ARGUMENT.
   */
  list(
    principal: Principal,
    pageSize: number,
    pageToken: string,
    state: JobState | undefined,
  ): JobPage<Config, Progress, Result> {
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw new InvalidArgumentError('page_size', pageSize, `expected an integer in [0, ${MAX_PAGE_SIZE}]`);
    }
    return this.jobs.list({
      pageSize: pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize,
      pageToken,
      states: state === undefined ? [] : [state],
      owner: principal.role === 'admin' ? undefined : principal.subject,
    });
  }

  /**
   * Cancels a queued job at once and asks a running one to stop (CANCELLING until its worker
   * stopped at its next safe point). A cancelling or cancelled job is returned unchanged; a
   * finished one is FAILED_PRECONDITION.
   */
  cancel(principal: Principal, id: string): JobRecord<Config, Progress, Result> {
    const job = this.find(principal, id);
    const { noun, stateEvent } = this.options;
    switch (job.state) {
      case 'cancelling':
      case 'cancelled':
        return job;
      case 'succeeded':
      case 'failed':
        throw new FailedPreconditionError(
          `${noun} ${JSON.stringify(id)} has ${job.state}; only a queued or running ${noun} can be cancelled`,
        );
      case 'queued':
        // A run that has just been handed the job finds it cancelled and does not start it.
        this.queue.cancel(id, new Error('cancelled'));
        return this.jobs.update(
          id,
          { state: 'cancelled' },
          stateEvent('cancelled', 'cancelled before it started'),
        );
      case 'running': {
        const cancelling = this.jobs.update(
          id,
          { state: 'cancelling' },
          stateEvent('cancelling', 'cancellation requested; stopping at the next safe point'),
        );
        if (this.queue.cancel(id, new Error('cancelled')) === 'absent') {
          // Not running in this process (only before recover()): there is nothing to wait for.
          return this.jobs.update(
            id,
            { state: 'cancelled' },
            stateEvent('cancelled', this.options.cancelled(job)),
          );
        }
        return cancelling;
      }
    }
  }

  /** The job's events after `afterSequence`: the stored history, then the live events. */
  watch(
    principal: Principal,
    id: string,
    afterSequence: number,
    signal: AbortSignal,
  ): AsyncGenerator<WatchedEvent<Payload>> {
    this.find(principal, id);
    return watchJob(this.jobs, id, afterSequence, signal);
  }

  /**
   * Stops the running jobs at once, whatever they are doing, and waits until their workers are
   * gone: a running job stays RUNNING and resumes at the next start; a job that was being
   * cancelled is CANCELLED.
   */
  async close(): Promise<void> {
    await this.queue.close();
  }

  private quotaExceeded(subject: string, unfinished: number, limit: number): ResourceExhaustedError {
    const { flag, env } = MAX_JOBS_PER_SUBJECT_OPTION;
    const shown = subject.length > 80 ? `${subject.slice(0, 80)}...` : subject;
    return new ResourceExhaustedError(
      `subject ${JSON.stringify(shown)} has ${unfinished} unfinished ${this.options.noun} jobs ` +
        `(queued, running or cancelling); ${flag} (${env}) is ${limit}: ` +
        `wait for one to finish or cancel one`,
    );
  }

  /** Runs (or resumes) one job on its worker until it ends, is cancelled or interrupted. */
  private async run(id: string, cancel: AbortSignal, interrupt: AbortSignal): Promise<void> {
    const { noun, idField, stateEvent } = this.options;
    const logger = this.options.logger.child({ [idField]: id });
    const job = this.jobs.get(id);
    if (job.state === 'queued') {
      this.jobs.update(id, { state: 'running' }, stateEvent('running', 'started'));
    } else if (job.state === 'running') {
      const reason = await this.options.resume(job, logger);
      this.jobs.update(id, { state: 'running', resumed: true }, stateEvent('running', reason));
    } else {
      return;
    }
    try {
      const worker = this.options.worker(this.jobs.get(id));
      const result = await runWorkerTask<WorkerEvent, WorkerResult>({
        script: worker.script,
        input: worker.input,
        cancel,
        interrupt,
        name: `${noun} ${id}`,
        onEvent: (event) => this.options.onEvent(id, event),
      });
      const { patch, reason } = this.options.succeeded(this.jobs.get(id), result);
      this.jobs.update(id, { ...patch, state: 'succeeded' }, stateEvent('succeeded', reason));
      logger.info(`${noun} succeeded`);
    } catch (err) {
      const current = this.jobs.get(id);
      if (err instanceof JobInterruptedError) {
        if (current.state === 'cancelling') {
          // Its cancellation was acknowledged: it must not resume at the next start.
          this.jobs.update(
            id,
            { state: 'cancelled' },
            stateEvent('cancelled', 'the service stopped while the job was stopping'),
          );
          logger.info(`${noun} cancelled: the shutdown stopped it before its next safe point`);
        } else {
          logger.info(`${noun} interrupted by the shutdown; it resumes at the next start`);
        }
        return;
      }
      if ((err instanceof WorkerTaskError && err.cancelled) || current.state === 'cancelling') {
        this.jobs.update(
          id,
          { state: 'cancelled' },
          stateEvent('cancelled', this.options.cancelled(current)),
        );
        logger.info(`${noun} cancelled`);
      } else {
        const message = err instanceof Error ? err.message : String(err);
        const told = this.options.clientError?.(current, message) ?? message;
        this.jobs.update(id, { state: 'failed', error: told }, stateEvent('failed', told));
        logger.warn({ err }, `${noun} failed`);
      }
    } finally {
      this.options.runEnded?.(id);
    }
  }
}
