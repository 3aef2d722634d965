// TrainingService.EvaluatePair: a training replica as one of a search's evaluators. Stateless from
// the search's point of view: each request carries the search's setup (dataset URI, split, network,
// recipe) and the candidates' tensors. What is kept is only a cache: the dataset opened under this
// service's --data-root and cut into the search splits (checked against the search's sizes and
// CRC-32), with a pool of evaluator threads (libs/nas WorkerPoolEvaluator) that holds it in shared
// memory; the least recently used setup is closed when a third one comes, or when idle.
import { InvalidArgumentError, ResourceExhaustedError, type Logger } from '@rnas/grpc';
import { checkDatasetUri, clientDataMessage, DataError, openDataset } from '@rnas/data';
import type { BackendName } from '@rnas/engine';
import {
  candidateJobFromProto,
  candidateResultToProto,
  EvaluationMessageError,
  evaluationSetupFromProto,
  searchSplits,
  WorkerPoolEvaluator,
  type CandidateJob,
} from '@rnas/nas';
import type { EvaluatePairRequest, EvaluatePairResponse, EvaluationSetup } from '@rnas/proto';

/** Setups kept open at once: a search and the next one, without thrashing between two searches. */
const MAX_SETUPS = 2;
/** Candidates one request may carry: a pair, or a final re-evaluation of a whole population. */
const MAX_CANDIDATES = 256;

export interface EvaluationsOptions {
  dataRoots: readonly string[];
  /** Largest dataset file a setup reads (--max-dataset-file-bytes); default libs/data's 1 GiB. */
  maxDatasetFileBytes?: number;
  /** Evaluator threads per setup. */
  threads: number;
  backend: BackendName;
  /** A setup unused this long is closed, freeing its threads and data. */
  idleMs: number;
  logger: Logger;
  /** Called with each request's candidate count when it is done, and its outcome. */
  observe?: (candidates: number, outcome: 'ok' | 'error') => void;
}

interface OpenSetup {
  key: string;
  ready: Promise<{ pool: WorkerPoolEvaluator; side: Parameters<typeof candidateJobFromProto>[2] }>;
  lastUsed: number;
  inFlight: number;
}

export class CandidateEvaluations {
  private readonly setups: OpenSetup[] = [];
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: EvaluationsOptions) {
    this.timer = setInterval(() => void this.closeIdle(), Math.max(1000, options.idleMs / 4));
    this.timer.unref();
  }

  /** Evaluates the request's candidates in order on the setup's threads; results in the same order. */
  async evaluate(request: EvaluatePairRequest): Promise<EvaluatePairResponse> {
    if (this.closed) throw new Error('evaluations: closed');
    const { setup, candidates } = request;
    if (setup === undefined) throw new InvalidArgumentError('setup', setup, 'required');
    if (candidates.length === 0 || candidates.length > MAX_CANDIDATES) {
      throw new InvalidArgumentError(
        'candidates',
        `${candidates.length} candidates`,
        `expected 1 to ${MAX_CANDIDATES}`,
      );
    }
    const open = this.open(setup);
    open.inFlight++;
    try {
      const { pool, side } = await open.ready;
      let jobs: CandidateJob[];
      try {
        jobs = candidates.map((job, i) => candidateJobFromProto(job, `candidates[${i}]`, side));
      } catch (error) {
        throw asInvalid(error);
      }
      const results = await Promise.all(jobs.map((job) => pool.submit(job)));
      this.options.observe?.(candidates.length, 'ok');
      return { results: results.map(candidateResultToProto) };
    } catch (error) {
      this.options.observe?.(candidates.length, 'error');
      throw error;
    } finally {
      open.inFlight--;
      open.lastUsed = Date.now();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all(this.setups.splice(0).map((open) => closeSetup(open)));
  }

  /** The open setup for `setup`, opening it (and closing the least recently used) when needed. */
  private open(setup: EvaluationSetup): OpenSetup {
    const key = JSON.stringify(setup);
    const found = this.setups.find((open) => open.key === key);
    if (found) {
      found.lastUsed = Date.now();
      return found;
    }
    if (this.setups.length >= MAX_SETUPS) {
      const idle = this.setups
        .filter((open) => open.inFlight === 0)
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (idle === undefined) {
        throw new ResourceExhaustedError(
          `this evaluator serves ${MAX_SETUPS} searches already; retry on another or later`,
        );
      }
      this.setups.splice(this.setups.indexOf(idle), 1);
      void closeSetup(idle);
    }
    const open: OpenSetup = { key, ready: this.start(setup), lastUsed: Date.now(), inFlight: 0 };
    // A setup that failed to open is forgotten, so that a fixed data root can be retried.
    open.ready.catch(() => {
      const at = this.setups.indexOf(open);
      if (at !== -1) this.setups.splice(at, 1);
    });
    this.setups.push(open);
    return open;
  }

  private async start(setup: EvaluationSetup): Promise<Awaited<OpenSetup['ready']>> {
    const uri = await checkDatasetUri(setup.datasetUri, this.options.dataRoots, 'setup.datasetUri');
    const dataset = await openDataset(uri, {
      dataRoots: this.options.dataRoots,
      maxFileBytes: this.options.maxDatasetFileBytes,
    }).catch((error: unknown) => {
      // The caller reads the URI as it gave it; the resolved paths go to this log only.
      if (!(error instanceof DataError)) throw error;
      this.options.logger.warn({ err: error, dataset: uri }, 'cannot open the dataset of a search setup');
      throw new DataError(error.code, clientDataMessage(error.message, uri, this.options.dataRoots));
    });
    const data = searchSplits(dataset.train, { trainPortion: setup.trainPortion, seed: setup.seed });
    let side;
    try {
      side = { ...evaluationSetupFromProto(setup, data), data };
    } catch (error) {
      throw asInvalid(error);
    }
    const pool = await WorkerPoolEvaluator.start(
      { network: side.network, recipe: side.recipe, data },
      { workers: this.options.threads, backend: this.options.backend },
    );
    this.options.logger.info(
      { dataset: uri, trainImages: data.train.size, valImages: data.val.size, threads: this.options.threads },
      'evaluator setup opened',
    );
    return { pool, side: { ...side, data } };
  }

  private async closeIdle(): Promise<void> {
    const now = Date.now();
    for (const open of [...this.setups]) {
      if (open.inFlight === 0 && now - open.lastUsed >= this.options.idleMs) {
        this.setups.splice(this.setups.indexOf(open), 1);
        await closeSetup(open);
      }
    }
  }
}

async function closeSetup(open: OpenSetup): Promise<void> {
  try {
    await (await open.ready).pool.close();
  } catch {
    // It never opened: nothing to free.
  }
}

function asInvalid(error: unknown): unknown {
  return error instanceof EvaluationMessageError
    ? new InvalidArgumentError(error.field, error.value, error.reason)
    : error;
}
