// Searches as durable jobs (libs/jobs' DurableJobs): a row in the job database per search, an
// event log that WatchSearch replays, a queue that runs them on worker threads, and the recovery
// that resumes every running search from its last checkpoint when the service starts. This file
// says what is the search's own: its stored progress, the protobuf events, the worker's input and
// events, and how a resumed search catches up with its checkpoint.
import { clientDataMessage } from '@rnas/data';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { NO_PEER_CREDENTIALS, type Logger, type PeerSettings, type Principal } from '@rnas/grpc';
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
import type { BackendInfo } from '@rnas/engine';
import { readCheckpointHistory, searchArtifacts, type GenerationRecord, type SearchConfig } from '@rnas/nas';
import {
  BestGenotype,
  SearchState,
  WatchSearchResponse,
  type ListSearchesRequest,
  type ListSearchesResponse,
  type Search,
  type SearchArtifacts,
  type SearchProgress,
} from '@rnas/proto';
import type { SearchMetrics } from './metrics';
import { bestToProto, generationReportToProto, pairResultsOf, pairResultToProto } from './search-proto';
import { searchConfigToProto, type ResolvedSearch } from './search-request';
import type { SearchWorkerEvent, SearchWorkerInput, SearchWorkerResult } from './worker-messages';

/** What the job row holds. */
interface StoredConfig {
  search: SearchConfig;
  datasetUri: string;
  workers: number;
}

interface StoredProgress {
  counters: SearchProgress;
  /** BestGenotype as protobuf JSON: the best so far while running. */
  best: unknown;
}

interface StoredResult {
  /**
   * BestGenotype as protobuf JSON: the search's result, the final choice (the final candidates
   * re-evaluated under the final weight set; generation = generations for the final population).
   */
  best: unknown;
}

type SearchJobKind = JobKind<StoredConfig, StoredProgress, StoredResult, unknown>;
type SearchJob = JobRecord<StoredConfig, StoredProgress, StoredResult>;

const STATES = new ProtoStates<SearchState>(
  {
    queued: SearchState.SEARCH_STATE_QUEUED,
    running: SearchState.SEARCH_STATE_RUNNING,
    cancelling: SearchState.SEARCH_STATE_CANCELLING,
    succeeded: SearchState.SEARCH_STATE_SUCCEEDED,
    failed: SearchState.SEARCH_STATE_FAILED,
    cancelled: SearchState.SEARCH_STATE_CANCELLED,
  },
  SearchState.SEARCH_STATE_UNSPECIFIED,
  'SearchState',
);

export interface SearchJobsOptions {
  store: JobStore;
  stateDir: string;
  dataRoots: readonly string[];
  /** Largest dataset file a search reads (--max-dataset-file-bytes); default libs/data's 1 GiB. */
  maxDatasetFileBytes?: number;
  maxRunning: number;
  /** Unfinished searches one subject may have; 0: no limit. */
  maxJobsPerSubject: number;
  /** The engine backend the workers use. */
  backend: BackendInfo;
  /** The compiled search worker. */
  workerScript: string;
  metrics: SearchMetrics;
  logger: Logger;
  /** 'local' (threads) or the remote evaluators (--evaluators). */
  evaluators: 'local' | readonly string[];
  evaluatorDeadlineMs: number;
  maxMessageBytes: number;
  /** What the remote evaluators are called with (--peer-tls-*, --peer-token-file) [plaintext, no token]. */
  peer?: PeerSettings;
}

/** Timing of one run of a search (since it started or resumed), for throughput and ETA. */
interface RunClock {
  startedAt: number;
  pairsThisRun: number;
  generationsThisRun: number;
}

export class SearchJobs {
  private readonly jobs: SearchJobKind;
  private readonly durable: DurableJobs<
    StoredConfig,
    StoredProgress,
    StoredResult,
    unknown,
    SearchWorkerEvent,
    SearchWorkerResult
  >;
  private readonly clocks = new Map<string, RunClock>();

  constructor(private readonly options: SearchJobsOptions) {
    this.jobs = options.store.kind('search');
    this.durable = new DurableJobs({
      jobs: this.jobs,
      noun: 'search',
      idField: 'search_id',
      maxRunning: options.maxRunning,
      maxJobsPerSubject: options.maxJobsPerSubject,
      logger: options.logger,
      stateEvent: (state, reason) => this.stateEvent(state, reason),
      worker: (job) => {
        this.clocks.set(job.id, { startedAt: performance.now(), pairsThisRun: 0, generationsThisRun: 0 });
        const input: SearchWorkerInput = {
          searchId: job.id,
          config: job.config.search,
          datasetUri: job.config.datasetUri,
          dataRoots: options.dataRoots,
          maxDatasetFileBytes: options.maxDatasetFileBytes,
          outDir: this.directoryOf(job.id),
          workers: job.config.workers,
          backend: options.backend.name,
          evaluators: options.evaluators,
          evaluatorDeadlineMs: options.evaluatorDeadlineMs,
          maxMessageBytes: options.maxMessageBytes,
          peer: options.peer ?? NO_PEER_CREDENTIALS,
        };
        return { script: options.workerScript, input };
      },
      resume: async (job, logger) => {
        const done = await this.reconcile(job, logger);
        return done > 0
          ? `resumed after a restart from the checkpoint of generation ${done} of ${job.config.search.generations}`
          : 'restarted after a restart: no generation had been checkpointed yet';
      },
      onEvent: (id, event) => this.onWorkerEvent(id, event),
      succeeded: (job, result) => ({
        patch: {
          result: { best: BestGenotype.toJSON(bestToProto(result.best)) },
          progress: { ...job.progress, counters: { ...job.progress.counters, etaMs: 0 } },
        },
        reason:
          `finished ${job.config.search.generations} generations; chosen genotype: ` +
          `${result.best.generation === job.config.search.generations ? 'the final population' : `generation ${result.best.generation}`}, ` +
          `member ${result.best.index}, validation loss ${result.best.valLoss.toFixed(4)} under the final weight set`,
      }),
      cancelled: (job) =>
        `cancelled after ${job.progress.counters.generationsDone} generations; the last checkpoint is kept`,
      runEnded: (id) => {
        this.clocks.delete(id);
        options.metrics.forget(id);
      },
      // The client reads its dataset URI as given; resolved paths stay in the log.
      clientError: (job, message) => clientDataMessage(message, job.config.datasetUri, options.dataRoots),
    });
  }

  /** Searches by state, for the metrics. */
  countByState(): Record<JobState, number> {
    return this.durable.countByState();
  }

  /** The artefacts directory of a search. */
  directoryOf(id: string): string {
    return path.join(this.options.stateDir, 'searches', id);
  }

  /** Resumes the searches that were running and queues the queued ones (after a start). */
  recover(): void {
    this.durable.recover();
  }

  /** RESOURCE_EXHAUSTED when `principal` may start no more searches now (before validating a request). */
  admit(principal: Principal): void {
    this.durable.admit(principal);
  }

  /**
   * Stores a validated search of `principal` (acknowledged once this returns) and queues it;
   * RESOURCE_EXHAUSTED beyond the subject's quota.
   */
  start(principal: Principal, resolved: ResolvedSearch): Search {
    const id = randomUUID();
    const job = this.durable.create(principal, id, {
      config: { search: resolved.config, datasetUri: resolved.datasetUri, workers: resolved.workers },
      progress: {
        counters: {
          generationsDone: 0,
          generations: resolved.config.generations,
          comparisonsDone: 0,
          comparisons: resolved.config.population / 2,
          candidatesEvaluated: 0,
          imagesPerSecond: 0,
          etaMs: 0,
        },
        best: null,
      },
    });
    this.options.logger.info(
      { search_id: id, dataset: resolved.datasetUri, owner: principal.subject },
      'search queued',
    );
    return this.toProto(job);
  }

  /** The search, when `principal` may see it (NOT_FOUND otherwise, as for an unknown id). */
  get(principal: Principal, id: string): Search {
    return this.toProto(this.durable.find(principal, id));
  }

  /** The searches `principal` may see: a user's own, every search for an admin. */
  list(principal: Principal, request: ListSearchesRequest): ListSearchesResponse {
    const page = this.durable.list(
      principal,
      request.pageSize,
      request.pageToken,
      STATES.filter(request.state),
    );
    return { searches: page.jobs.map((job) => this.toProto(job)), nextPageToken: page.nextPageToken };
  }

  /** Cancels a queued search at once, asks a running one to stop after its current pair. */
  cancel(principal: Principal, id: string): Search {
    return this.toProto(this.durable.cancel(principal, id));
  }

  /** The search's events after `afterSequence`: the stored history, then live events. */
  watch(
    principal: Principal,
    id: string,
    afterSequence: number,
    signal: AbortSignal,
  ): AsyncGenerator<WatchSearchResponse> {
    return watchMessages(this.durable.watch(principal, id, afterSequence, signal), WatchSearchResponse);
  }

  /** Stops running searches (they stay RUNNING and resume at the next start). */
  close(): Promise<void> {
    return this.durable.close();
  }

  private artifacts(id: string): SearchArtifacts {
    const dir = this.directoryOf(id);
    const files = searchArtifacts(dir);
    return {
      directory: dir,
      genotypePath: files.genotype,
      historyPath: files.history,
      cellsDirectory: files.cells,
      checkpointPath: files.checkpoint,
    };
  }

  private toProto(job: SearchJob): Search {
    const best = job.result?.best ?? job.progress.best;
    return {
      id: job.id,
      state: STATES.of(job.state),
      config: searchConfigToProto(job.config.search, job.config.workers),
      datasetUri: job.config.datasetUri,
      seed: job.config.search.seed,
      createdUnixMs: job.createdMs,
      startedUnixMs: job.startedMs,
      finishedUnixMs: job.finishedMs,
      progress: { ...job.progress.counters },
      best: best === null || best === undefined ? undefined : BestGenotype.fromJSON(best),
      artifacts: this.artifacts(job.id),
      error: job.error,
      resumes: job.resumes,
      owner: job.owner,
    };
  }

  private stateEvent(state: JobState, reason: string): { from: (job: SearchJob) => unknown } {
    return {
      from: (job) =>
        this.eventPayload({
          $case: 'stateChange',
          value: { state: STATES.of(state), reason, search: this.toProto(job) },
        }).payload,
    };
  }

  private eventPayload(event: WatchSearchResponse['event']): { payload: unknown } {
    return eventPayload(WatchSearchResponse, event);
  }

  /** Stores what the worker reports: each event with the progress it implies, in one transaction. */
  private onWorkerEvent(id: string, event: SearchWorkerEvent): void {
    const job = this.jobs.get(id);
    const clock = this.clocks.get(id);
    const counters = job.progress.counters;
    const { metrics } = this.options;
    switch (event.type) {
      case 'evaluator':
        metrics.evaluatorInFlight.set({ evaluator: event.target }, event.inFlight);
        if (event.bytesSent > 0) metrics.evaluatorBytesSent.inc({ evaluator: event.target }, event.bytesSent);
        if (event.retries > 0) metrics.evaluatorRetries.inc({ evaluator: event.target }, event.retries);
        return;
      case 'log':
        this.options.logger.warn({ search_id: id }, event.message);
        return;
      case 'start': {
        this.jobs.update(id, {
          progress: {
            ...job.progress,
            counters: {
              ...counters,
              generationsDone: event.generationsDone,
              comparisonsDone: 0,
              comparisons: event.pairsPerGeneration,
              candidatesEvaluated: event.generationsDone * job.config.search.population,
            },
          },
        });
        return;
      }
      case 'pair': {
        metrics.reportMemory(id, event.memory);
        metrics.evaluations.inc(2);
        const pair = pairResultToProto(event);
        const teacher = pair.teacher;
        const previous = job.progress.best === null ? undefined : BestGenotype.fromJSON(job.progress.best);
        let best = job.progress.best;
        if (teacher !== undefined && (previous === undefined || teacher.valLoss < previous.valLoss)) {
          best = BestGenotype.toJSON({
            genotype: teacher.genotype,
            valLoss: teacher.valLoss,
            valAccuracy: teacher.valAccuracy,
            generation: event.generation,
            member: event.record.teacher,
          });
          if (Number.isFinite(teacher.valLoss))
            metrics.bestValidationLoss.set({ search_id: id }, teacher.valLoss);
        }
        const ips = event.record.timing.imagesPerSecond;
        metrics.imagesPerSecond.set({ search_id: id }, ips);
        let etaMs = 0;
        if (clock !== undefined) {
          clock.pairsThisRun++;
          const perPair = (performance.now() - clock.startedAt) / clock.pairsThisRun;
          const remaining = (counters.generations - event.generation) * event.pairs - event.pairsDone;
          etaMs = Math.round(perPair * Math.max(0, remaining));
        }
        this.jobs.append(id, this.eventPayload({ $case: 'pairResult', value: pair }), {
          progress: {
            best,
            counters: {
              ...counters,
              comparisonsDone: event.pairsDone,
              candidatesEvaluated: counters.candidatesEvaluated + 2,
              imagesPerSecond: ips,
              etaMs,
            },
          },
        });
        return;
      }
      case 'generation': {
        metrics.reportMemory(id, event.memory);
        metrics.generations.inc();
        const record = event.record;
        if (Number.isFinite(record.bestSoFar.valLoss)) {
          metrics.bestValidationLoss.set({ search_id: id }, record.bestSoFar.valLoss);
        }
        let etaMs = 0;
        if (clock !== undefined) {
          clock.generationsThisRun++;
          const perGeneration = (performance.now() - clock.startedAt) / clock.generationsThisRun;
          etaMs = perGeneration * (counters.generations - record.generation - 1);
        }
        const report = generationReportToProto(record, etaMs);
        this.jobs.append(id, this.eventPayload({ $case: 'generationReport', value: report }), {
          progress: {
            best: report.best === undefined ? job.progress.best : BestGenotype.toJSON(report.best),
            counters: {
              ...counters,
              generationsDone: record.generation + 1,
              comparisonsDone: 0,
              imagesPerSecond: record.timing.imagesPerSecond,
              etaMs: Math.round(etaMs),
            },
          },
        });
        return;
      }
    }
  }

  /**
   * A kill can land between a generation's checkpoint and the commit of its report: the worker
   * wrote the checkpoint, this thread never stored the events. Before resuming, the generations
   * the checkpoint holds beyond the stored progress are stored from the checkpoint's history
   * (their pair results, then their report), so that the event log misses no generation. Returns
   * the generations the checkpoint holds (0 without one).
   */
  private async reconcile(job: SearchJob, logger: Logger): Promise<number> {
    const file = path.join(searchArtifacts(this.directoryOf(job.id)).checkpoint, 'checkpoint.json');
    let generations: GenerationRecord[];
    try {
      generations = (await readCheckpointHistory(this.directoryOf(job.id)))?.generations ?? [];
    } catch (err) {
      logger.warn(
        { err, file },
        'cannot read the checkpoint history; the worker decides whether it can resume',
      );
      return 0;
    }
    const stored = job.progress.counters.generationsDone;
    try {
      for (const record of generations.slice(stored)) {
        for (const pair of pairResultsOf(record)) {
          this.jobs.append(job.id, this.eventPayload({ $case: 'pairResult', value: pair }));
        }
        const report = generationReportToProto(record, 0);
        const current = this.jobs.get(job.id);
        this.jobs.append(job.id, this.eventPayload({ $case: 'generationReport', value: report }), {
          progress: {
            best: report.best === undefined ? current.progress.best : BestGenotype.toJSON(report.best),
            counters: {
              ...current.progress.counters,
              generationsDone: record.generation + 1,
              comparisonsDone: 0,
            },
          },
        });
        logger.info({ generation: record.generation }, 'stored a generation report from the checkpoint');
      }
    } catch (err) {
      logger.warn(
        { err, file },
        'the checkpoint history does not convert; the worker decides whether it can resume',
      );
    }
    return generations.length;
  }
}
