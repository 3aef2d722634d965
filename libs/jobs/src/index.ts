export { JOB_STATES, isTerminal, canTransition, type JobState } from './job-state';
export {
  JobError,
  JobNotFoundError,
  DuplicateJobError,
  JobStateError,
  PageTokenError,
  QuotaExceededError,
} from './errors';
export {
  JobStore,
  JobKind,
  SCHEMA_VERSION,
  DEFAULT_OWNER,
  UNFINISHED_STATES,
  toStoredJson,
  type NewJob,
  type Admission,
  type JobRecord,
  type StoredEvent,
  type JobPatch,
  type EventSource,
  type ListOptions,
  type JobPage,
  type OpenJobStoreOptions,
} from './job-store';
export { watchJob, type WatchedEvent } from './watch';
export { JobQueue, type JobQueueOptions } from './job-queue';
export { runWorkerTask, WorkerTaskError, JobInterruptedError, type WorkerTaskOptions } from './worker-task';
export { serveWorkerTask, describeWorkerError, type JobContext } from './serve-worker-task';
export type { CancelMessage, FromJobWorker, WorkerErrorInfo } from './worker-protocol';
export { InvalidRequestError, toDomainError } from './grpc-errors';
export { DurableJobs, type DurableJobsOptions } from './durable-jobs';
export { MAX_JOBS_PER_SUBJECT_OPTION } from './job-options';
export {
  startJobService,
  jobDatabaseName,
  WorkerMemoryByJob,
  type JobServiceConfig,
  type JobServiceContext,
  type JobServiceEngine,
  type JobServiceOptions,
  type JobServiceSpec,
  type RunningJobService,
  type ServiceJobs,
} from './job-service';
export {
  ProtoStates,
  UINT64_MAX,
  afterSequence,
  eventPayload,
  watchMessages,
  jobCalls,
  type MessageJson,
  type WatchMessage,
} from './job-api';
export {
  TEST_SUBJECT_HEADER,
  TEST_ROLE_HEADER,
  testPrincipals,
  callerOptions,
  writeIdleWorker,
} from './testing';
