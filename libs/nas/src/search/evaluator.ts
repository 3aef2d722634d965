// How the search loop gets candidates trained and validated: an Evaluator evaluates both members
// of a pair from one weight-set snapshot. Implementations: in process (this file), on a pool of
// worker threads (worker-pool.ts); a remote one can implement the same interface.
import type { Genotype } from '../genotype';
import {
  evaluateCandidate,
  type CandidateJob,
  type CandidateResult,
  type SearchData,
  type TrainingRecipe,
} from './candidate';
import type { SearchNetworkConfig } from './search-network';
import type { WeightSet } from './weight-set';

/** What an evaluator is set up with once: the same for every pair of a search. */
export interface EvaluatorSetup {
  network: SearchNetworkConfig;
  recipe: TrainingRecipe;
  data: SearchData;
}

/** What changes from pair to pair (and is the same for both members of the pair). */
export interface PairContext {
  generation: number;
  pair: number;
  lr: number;
  dropPath: number;
  trainIndices: Int32Array;
  valIndices: Int32Array;
  augmentSeed: number;
  /** Drop-path seeds of the first and second member. */
  dropPathSeeds: readonly [number, number];
}

export interface Evaluator {
  /** Candidates it can train at the same time. */
  readonly concurrency: number;
  /**
   * Trains and validates both genotypes from `snapshot`. Implementations read their tensors from
   * the snapshot before the returned promise first yields, so the caller may update the weight
   * set as soon as the call returns; results are the same whichever order or thread ran them.
   */
  evaluatePair(
    snapshot: WeightSet,
    genotypes: readonly [Genotype, Genotype],
    ctx: PairContext,
  ): Promise<[CandidateResult, CandidateResult]>;
  /** Frees threads and memory; the evaluator cannot be used afterwards. */
  close(): Promise<void>;
}

/** The two candidate jobs of a pair, with their tensors read from the snapshot now. */
export function pairJobs(
  setup: Omit<EvaluatorSetup, 'data'>,
  snapshot: WeightSet,
  genotypes: readonly [Genotype, Genotype],
  ctx: PairContext,
): [CandidateJob, CandidateJob] {
  const job = (k: 0 | 1): CandidateJob => ({
    network: setup.network,
    recipe: setup.recipe,
    genotype: genotypes[k],
    params: snapshot.paramsFor(genotypes[k]),
    lr: ctx.lr,
    dropPath: ctx.dropPath,
    trainIndices: ctx.trainIndices,
    valIndices: ctx.valIndices,
    augmentSeed: ctx.augmentSeed,
    dropPathSeed: ctx.dropPathSeeds[k],
  });
  return [job(0), job(1)];
}

/** Evaluates in the calling thread, one candidate after the other, on the current engine backend. */
export class InProcessEvaluator implements Evaluator {
  readonly concurrency = 1;
  private closed = false;

  constructor(private readonly setup: EvaluatorSetup) {}

  async evaluatePair(
    snapshot: WeightSet,
    genotypes: readonly [Genotype, Genotype],
    ctx: PairContext,
  ): Promise<[CandidateResult, CandidateResult]> {
    if (this.closed) throw new Error('evaluator: closed');
    const [a, b] = pairJobs(this.setup, snapshot, genotypes, ctx);
    const first = evaluateCandidate(a, this.setup.data);
    // Yield between the two so a progress display and signal handlers get a turn.
    await new Promise((resolve) => setImmediate(resolve));
    const second = evaluateCandidate(b, this.setup.data);
    return [first, second];
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
