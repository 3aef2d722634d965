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

/** What changes from pair to pair; the per-member fields are [first member, second member]. */
export interface PairContext {
  generation: number;
  pair: number;
  lr: number;
  dropPath: number;
  /** The search-training images each member trains on, in order. */
  trainIndices: readonly [Int32Array, Int32Array];
  valIndices: Int32Array;
  augmentSeeds: readonly [number, number];
  /** null: plain validation images. */
  valAugmentSeeds: readonly [number | null, number | null];
  dropPathSeeds: readonly [number, number];
}

/** A measurement without training: every genotype on the same validation images. */
export interface ValidationContext {
  valIndices: Int32Array;
  /** One augmentation for every genotype, so the losses compare; null: plain images. */
  valAugmentSeed: number | null;
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
  /**
   * Measures each genotype, as it loads from `snapshot`, on the validation images (inference mode,
   * no training): the final re-evaluation of a search. Results in the order of `genotypes`.
   */
  validate(
    snapshot: WeightSet,
    genotypes: readonly Genotype[],
    ctx: ValidationContext,
  ): Promise<CandidateResult[]>;
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
    trainIndices: ctx.trainIndices[k],
    valIndices: ctx.valIndices,
    augmentSeed: ctx.augmentSeeds[k],
    valAugmentSeed: ctx.valAugmentSeeds[k],
    dropPathSeed: ctx.dropPathSeeds[k],
  });
  return [job(0), job(1)];
}

/** The validation-only jobs of `validate`, with their tensors read from the snapshot now. */
export function validationJobs(
  setup: Omit<EvaluatorSetup, 'data'>,
  snapshot: WeightSet,
  genotypes: readonly Genotype[],
  ctx: ValidationContext,
): CandidateJob[] {
  return genotypes.map((genotype) => ({
    network: setup.network,
    recipe: setup.recipe,
    genotype,
    params: snapshot.paramsFor(genotype),
    lr: 0,
    dropPath: 0,
    trainIndices: new Int32Array(0),
    valIndices: ctx.valIndices,
    augmentSeed: 0,
    valAugmentSeed: ctx.valAugmentSeed,
    dropPathSeed: 0,
    validateOnly: true,
  }));
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

  async validate(
    snapshot: WeightSet,
    genotypes: readonly Genotype[],
    ctx: ValidationContext,
  ): Promise<CandidateResult[]> {
    if (this.closed) throw new Error('evaluator: closed');
    const results: CandidateResult[] = [];
    for (const job of validationJobs(this.setup, snapshot, genotypes, ctx)) {
      results.push(evaluateCandidate(job, this.setup.data));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return results;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
