/**
 * The lifecycle every durable job shares: QUEUED -> RUNNING -> (SUCCEEDED | FAILED |
 * CANCELLING -> CANCELLED); a queued job can go straight to CANCELLED. A job that was RUNNING when
 * its service stopped is RUNNING again when the service restarts and resumes it.
 */
export const JOB_STATES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

const TERMINAL: ReadonlySet<JobState> = new Set<JobState>(['succeeded', 'failed', 'cancelled']);

/** Whether nothing will happen to a job in this state any more. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL.has(state);
}

const NEXT: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['running', 'cancelling', 'succeeded', 'failed', 'cancelled'],
  cancelling: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/** Whether the lifecycle allows `from` -> `to` (running -> running is a resume after a restart). */
export function canTransition(from: JobState, to: JobState): boolean {
  return NEXT[from].includes(to);
}
