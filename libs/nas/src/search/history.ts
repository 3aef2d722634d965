// The record a search keeps (RELATIVENAS.md section 6): per generation, every genotype with its
// loss and accuracy, the pairs, the winners, the diversity and the best so far. Plain JSON data.
// Wall-clock measurements sit apart, under `timing`, as the only part that differs between two
// runs of the same search.
import type { Genotype } from '../genotype';
import type { SearchConfig } from './search-config';

/** One population member as evaluated in one generation. */
export interface CandidateRecord {
  /** Population index. */
  index: number;
  /** Its continuous encoding at evaluation time. */
  encoding: number[];
  genotype: Genotype;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  /**
   * Its training diverged (divergence.ts): it lost its comparison. Absent in histories written
   * before the flag existed.
   */
  diverged?: boolean;
}

export interface Timing {
  seconds: number;
  /** Training and validation images through the network per second of wall time. */
  imagesPerSecond: number;
}

/** One comparison: who met whom and who taught. */
export interface PairRecord {
  /** Population indices, in the order they were paired. */
  members: [number, number];
  teacher: number;
  student: number;
  /** False when both losses were not finite: the weight set was left unchanged. */
  weightSetUpdated: boolean;
  timing: Timing;
}

export interface BestRecord {
  generation: number;
  index: number;
  genotype: Genotype;
  valLoss: number;
  valAccuracy: number;
}

export interface GenerationRecord {
  generation: number;
  learningRate: number;
  dropPath: number;
  /** Mean Euclidean distance of the encodings to their mean, before the students moved. */
  diversity: number;
  /** Every member as evaluated, by population index. */
  candidates: CandidateRecord[];
  pairs: PairRecord[];
  /** Lowest validation loss of this generation. */
  best: BestRecord;
  /** Lowest validation loss of all generations so far. */
  bestSoFar: BestRecord;
  /** Training images and validation images per candidate. */
  trainImages: number;
  valImages: number;
  timing: Timing;
}

/** A candidate of the final choice, measured under the final weight set (no training). */
export interface FinalCandidateRecord {
  /** Where it was met: generation and population index (`generation` = generations: the final population). */
  generation: number;
  index: number;
  encoding: number[];
  genotype: Genotype;
  valLoss: number;
  valAccuracy: number;
}

/**
 * The final choice (RELATIVENAS.md section 6): every final candidate of the strategy re-evaluated
 * under the final weight set on the same validation images, the lowest loss chosen. Losses taken
 * during the search came from different snapshots of the weight set and do not compare.
 */
export interface FinalRecord {
  candidates: FinalCandidateRecord[];
  best: BestRecord;
  valImages: number;
  /** Whether the validation images carried the training augmentation (one draw for all). */
  valAugmented: boolean;
  timing: Timing;
}

export interface SearchHistory {
  format: typeof HISTORY_FORMAT;
  config: SearchConfig;
  /** What the search ran on, for the record (e.g. the dataset URI and its split sizes). */
  data: { source: string; trainSize: number; valSize: number; classes: number; imageShape: number[] };
  generations: GenerationRecord[];
  /** Present once every generation has run. */
  final?: FinalRecord;
}

export const HISTORY_FORMAT = 'rnas-search-history/2';

/** The lower validation loss wins; NaN never does; on a tie the earlier record stays. */
export function betterOf(current: BestRecord | null, candidate: BestRecord): BestRecord {
  if (current === null) return candidate;
  const c = Number.isNaN(candidate.valLoss) ? Infinity : candidate.valLoss;
  const k = Number.isNaN(current.valLoss) ? Infinity : current.valLoss;
  return c < k ? candidate : current;
}

/** A history (or part of one) without its wall-clock parts: what two runs of the same search agree on. */
export function withoutTiming(history: SearchHistory | GenerationRecord): unknown {
  return JSON.parse(JSON.stringify(history, (key, value) => (key === 'timing' ? undefined : value)));
}
