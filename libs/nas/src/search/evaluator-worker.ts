// Entry point of an evaluator worker thread (started by WorkerPoolEvaluator from the compiled
// dist/ file): its own engine instance, the shared dataset, one candidate job at a time.
import { initBackend } from '@rnas/engine';
import { serveRequests } from '@rnas/workers';
import { evaluateCandidate, type CandidateJob, type CandidateResult } from './candidate';
import { transferList, type WorkerInit } from './worker-pool';

serveRequests('evaluator-worker', async ({ setup, backend, wasmThreads }: WorkerInit) => ({
  ready: await initBackend(backend, { wasmThreads }),
  handle: (job: CandidateJob): CandidateResult => evaluateCandidate(job, setup.data),
  transfer: (result: CandidateResult) => transferList(result.params),
}));
