// Trainings as durable jobs (libs/jobs' DurableJobs): a row in the job database per training, an
// event log that WatchTraining replays, a queue that runs them on worker threads, and the recovery
// that resumes every running training from its last epoch checkpoint when the service starts.
// This file says what is the training's own: its stored progress, the protobuf events, the
// worker's input and events.
import { clientDataMessage } from '@rnas/data';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import type { BackendInfo, BackendName } from '@rnas/engine';
import type { Logger, Principal } from '@rnas/grpc';
import {
  DurableJobs,
  eventPayload,
  ProtoStates,
  watchMessages,
  type JobKind,
  type JobRecord,
  type JobState,
  type JobStore,
} from '@rnas/jobs';
import { networkSpecToProto, type Genotype, type NetworkSpec } from '@rnas/nas';
import {
  EpochReport as EpochReportProto,
  TrainingState,
  WatchTrainingResponse,
  type ListTrainingsRequest,
  type ListTrainingsResponse,
  type Training,
} from '@rnas/proto';
import type { PublishedModel } from '@rnas/model';
import type { Recipe } from '@rnas/train';
import {
  detectionConfigToProto,
  keypointConfigToProto,
  segmentationConfigToProto,
  taskToProto,
  type TaskName,
} from '@rnas/tasks';
import type { TrainingMetrics } from './metrics';
import { CandidateEvaluations } from './evaluations';
import type { SearchLookup } from './search-lookup';
import { epochReportToProto, recipeToProto } from './training-proto';
import type { HeadConfigs, RequestedSpec, ResolvedTraining } from './training-request';
import type { TrainingWorkerEvent, TrainingWorkerInput, TrainingWorkerResult } from './worker-messages';

/** The head config of a dense task is stored under its task's name (`detection`, ...). */
interface StoredConfig extends HeadConfigs {
  genotype: Genotype;
  searchId: string;
  spec: RequestedSpec;
  datasetUri: string;
  recipe: Recipe;
  modelName: string;
  /** Absent in trainings stored before tasks existed: classification. */
  task?: TaskName;
}

interface StoredProgress {
  epochsDone: number;
  epochs: number;
  imagesPerSecond: number;
  etaMs: number;
  /** EpochReport as protobuf JSON; null before the first epoch. */
  lastEpoch: unknown;
  /** The network once the training opened its dataset (every size set). */
  spec: NetworkSpec | null;
  inputSize: number;
}

interface StoredResult {
  model: PublishedModel;
}

type TrainingJob = JobRecord<StoredConfig, StoredProgress, StoredResult>;

const STATES = new ProtoStates<TrainingState>(
  {
    queued: TrainingState.TRAINING_STATE_QUEUED,
    running: TrainingState.TRAINING_STATE_RUNNING,
    cancelling: TrainingState.TRAINING_STATE_CANCELLING,
    succeeded: TrainingState.TRAINING_STATE_SUCCEEDED,
    failed: TrainingState.TRAINING_STATE_FAILED,
    cancelled: TrainingState.TRAINING_STATE_CANCELLED,
  },
  TrainingState.TRAINING_STATE_UNSPECIFIED,
  'TrainingState',
);

/** A search setup unused for this long frees its evaluator threads and data. */
const EVALUATOR_IDLE_MS = 10 * 60_000;

export interface TrainingJobsOptions {
  store: JobStore;
  stateDir: string;
  modelRepo: string;
  dataRoots: readonly string[];
  /** Largest dataset file a training or evaluation reads (--max-dataset-file-bytes); default 1 GiB. */
  maxDatasetFileBytes?: number;
  maxRunning: number;
  /** Unfinished trainings one subject may have; 0: no limit. */
  maxJobsPerSubject: number;
  backend: BackendInfo;
  workerScript: string;
  metrics: TrainingMetrics;
  logger: Logger;
  /** Evaluator threads per search setup for EvaluatePair. */
  evaluatorThreads: number;
  /** Where StartTraining finds a search's genotype (the search service). */
  searches: SearchLookup;
}

export class TrainingJobs {
  /** The candidate evaluations this replica does for search services (EvaluatePair). */
  readonly evaluations: CandidateEvaluations;
  /** The search service, asked for the genotype of a search StartTraining names. */
  readonly searches: SearchLookup;
  private readonly jobs: JobKind<StoredConfig, StoredProgress, StoredResult, unknown>;
  private readonly durable: DurableJobs<
    StoredConfig,
    StoredProgress,
    StoredResult,
    unknown,
    TrainingWorkerEvent,
    TrainingWorkerResult
  >;

  constructor(private readonly options: TrainingJobsOptions) {
    this.searches = options.searches;
    this.evaluations = new CandidateEvaluations({
      dataRoots: options.dataRoots,
      maxDatasetFileBytes: options.maxDatasetFileBytes,
      threads: options.evaluatorThreads,
      backend: options.backend.name as BackendName,
      idleMs: EVALUATOR_IDLE_MS,
      logger: options.logger.child({ component: 'evaluations' }),
      observe: (candidates, outcome) => options.metrics.evaluations.inc({ outcome }, candidates),
    });
    this.jobs = options.store.kind('training');
    this.durable = new DurableJobs({
      jobs: this.jobs,
      noun: 'training',
      idField: 'training_id',
      maxRunning: options.maxRunning,
      maxJobsPerSubject: options.maxJobsPerSubject,
      logger: options.logger,
      stateEvent: (state, reason) => ({
        from: (job: TrainingJob) =>
          eventPayload(WatchTrainingResponse, {
            $case: 'stateChange',
            value: { state: STATES.of(state), reason, training: this.toProto(job) },
          }).payload,
      }),
      worker: (job) => {
        const input: TrainingWorkerInput = {
          trainingId: job.id,
          genotype: job.config.genotype,
          spec: job.config.spec,
          datasetUri: job.config.datasetUri,
          dataRoots: options.dataRoots,
          maxDatasetFileBytes: options.maxDatasetFileBytes,
          recipe: job.config.recipe,
          modelName: job.config.modelName,
          task: job.config.task ?? 'classification',
          configs: {
            detection: job.config.detection,
            segmentation: job.config.segmentation,
            keypoints: job.config.keypoints,
          },
          modelRepo: options.modelRepo,
          directory: this.directoryOf(job.id),
          epochsStored: job.progress.epochsDone,
          backend: options.backend.name,
        };
        return { script: options.workerScript, input };
      },
      // The trainer resumes from its own checkpoint; the worker first sends the reports of the
      // checkpointed epochs this database has not stored yet.
      resume: async (job) =>
        job.progress.epochsDone > 0
          ? `resumed after a restart from the checkpoint of epoch ${job.progress.epochsDone} of ${job.progress.epochs}`
          : 'restarted after a restart: no epoch had been checkpointed yet',
      onEvent: (id, event) => this.onWorkerEvent(id, event),
      succeeded: (job, result) => ({
        patch: { result: { model: result.model }, progress: { ...job.progress, etaMs: 0 } },
        reason: `trained ${job.config.recipe.epochs} epoch${job.config.recipe.epochs === 1 ? '' : 's'}; published ${result.model.name} version ${result.model.version}`,
      }),
      cancelled: (job) => `cancelled after ${job.progress.epochsDone} epochs; nothing was published`,
      runEnded: (id) => options.metrics.forget(id),
      // The client reads its dataset URI as given; resolved paths stay in the log.
      clientError: (job, message) => clientDataMessage(message, job.config.datasetUri, options.dataRoots),
    });
  }

  countByState(): Record<JobState, number> {
    return this.durable.countByState();
  }

  /** The training's own directory in the state directory (checkpoint, publication marker). */
  directoryOf(id: string): string {
    return path.join(this.options.stateDir, 'trainings', id);
  }

  recover(): void {
    this.durable.recover();
  }

  /** RESOURCE_EXHAUSTED when `principal` may start no more trainings now (before validating a request). */
  admit(principal: Principal): void {
    this.durable.admit(principal);
  }

  /**
   * Stores a validated training of `principal` (acknowledged once this returns) and queues it;
   * RESOURCE_EXHAUSTED beyond the subject's quota.
   */
  start(principal: Principal, resolved: ResolvedTraining): Training {
    const id = randomUUID();
    const job = this.durable.create(principal, id, {
      config: {
        genotype: resolved.genotype,
        searchId: resolved.searchId,
        spec: resolved.spec,
        datasetUri: resolved.datasetUri,
        recipe: resolved.recipe,
        modelName: resolved.modelName,
        task: resolved.task,
        ...resolved.configs,
      },
      progress: {
        epochsDone: 0,
        epochs: resolved.recipe.epochs,
        imagesPerSecond: 0,
        etaMs: 0,
        lastEpoch: null,
        spec: null,
        inputSize: resolved.spec.inputSize,
      },
    });
    this.options.logger.info(
      { training_id: id, model: resolved.modelName, owner: principal.subject },
      'training queued',
    );
    return this.toProto(job);
  }

  /** The training, when `principal` may see it (NOT_FOUND otherwise, as for an unknown id). */
  get(principal: Principal, id: string): Training {
    return this.toProto(this.durable.find(principal, id));
  }

  /** The trainings `principal` may see: a user's own, every training for an admin. */
  list(principal: Principal, request: ListTrainingsRequest): ListTrainingsResponse {
    const page = this.durable.list(
      principal,
      request.pageSize,
      request.pageToken,
      STATES.filter(request.state),
    );
    return { trainings: page.jobs.map((job) => this.toProto(job)), nextPageToken: page.nextPageToken };
  }

  cancel(principal: Principal, id: string): Training {
    return this.toProto(this.durable.cancel(principal, id));
  }

  watch(
    principal: Principal,
    id: string,
    afterSequence: number,
    signal: AbortSignal,
  ): AsyncGenerator<WatchTrainingResponse> {
    return watchMessages(this.durable.watch(principal, id, afterSequence, signal), WatchTrainingResponse);
  }

  async close(): Promise<void> {
    this.searches.close();
    await Promise.all([this.durable.close(), this.evaluations.close()]);
  }

  private toProto(job: TrainingJob): Training {
    const { config, progress } = job;
    return {
      id: job.id,
      state: STATES.of(job.state),
      searchId: config.searchId,
      // The spec in use: the requested one until the training opened its dataset, then the resolved one.
      spec: networkSpecToProto(
        { ...(progress.spec ?? config.spec), genotype: config.genotype },
        progress.inputSize,
      ),
      datasetUri: config.datasetUri,
      recipe: recipeToProto(config.recipe),
      modelName: config.modelName,
      task: taskToProto(config.task ?? 'classification'),
      detection: config.detection === undefined ? undefined : detectionConfigToProto(config.detection),
      segmentation:
        config.segmentation === undefined ? undefined : segmentationConfigToProto(config.segmentation),
      keypoints: config.keypoints === undefined ? undefined : keypointConfigToProto(config.keypoints),
      createdUnixMs: job.createdMs,
      startedUnixMs: job.startedMs,
      finishedUnixMs: job.finishedMs,
      progress: {
        epochsDone: progress.epochsDone,
        epochs: progress.epochs,
        imagesPerSecond: progress.imagesPerSecond,
        etaMs: progress.etaMs,
      },
      lastEpoch: progress.lastEpoch === null ? undefined : EpochReportProto.fromJSON(progress.lastEpoch),
      model: job.result?.model === undefined ? undefined : { ...job.result.model },
      error: job.error,
      resumes: job.resumes,
      owner: job.owner,
    };
  }

  private onWorkerEvent(id: string, event: TrainingWorkerEvent): void {
    const job = this.jobs.get(id);
    switch (event.type) {
      case 'start':
        this.jobs.update(id, { progress: { ...job.progress, spec: event.spec, inputSize: event.inputSize } });
        return;
      case 'epoch': {
        const { metrics } = this.options;
        const report = epochReportToProto(event.report);
        metrics.reportMemory(id, event.memory);
        metrics.epochs.inc();
        metrics.images.inc(event.report.trainImages);
        metrics.imagesPerSecond.set({ training_id: id }, report.imagesPerSecond);
        this.jobs.append(id, eventPayload(WatchTrainingResponse, { $case: 'epochReport', value: report }), {
          progress: {
            ...job.progress,
            epochsDone: report.epoch,
            imagesPerSecond: report.imagesPerSecond,
            etaMs: report.etaMs,
            lastEpoch: EpochReportProto.toJSON(report),
          },
        });
        return;
      }
    }
  }
}
