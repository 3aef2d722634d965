import type { JobState } from './job-state';

/** Base class of the job library's errors; services map each subclass to a status code. */
export class JobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No job of this kind has this id. */
export class JobNotFoundError extends JobError {
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`${kind} ${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}...` : id)} not found`);
  }
}

/** A job already has this id. */
export class DuplicateJobError extends JobError {
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`${kind} ${JSON.stringify(id)} already exists`);
  }
}

/** The lifecycle forbids the change (e.g. a finished job cannot start running). */
export class JobStateError extends JobError {
  constructor(
    readonly kind: string,
    readonly id: string,
    readonly from: JobState,
    readonly to: JobState,
  ) {
    super(`${kind} ${JSON.stringify(id)} is ${from}; it cannot become ${to}`);
  }
}

/** A page token that this store did not hand out for this listing. */
export class PageTokenError extends JobError {
  constructor(
    readonly token: string,
    reason: string,
  ) {
    super(`page token ${JSON.stringify(token.length > 80 ? `${token.slice(0, 80)}...` : token)}: ${reason}`);
  }
}

/** A new job would give its owner more unfinished jobs than the admission allows. */
export class QuotaExceededError extends JobError {
  constructor(
    readonly kind: string,
    readonly owner: string,
    /** The owner's unfinished jobs of this kind now. */
    readonly unfinished: number,
    readonly limit: number,
  ) {
    super(
      `${JSON.stringify(owner.length > 80 ? `${owner.slice(0, 80)}...` : owner)} has ${unfinished} unfinished ${kind} jobs; the limit is ${limit}`,
    );
  }
}
