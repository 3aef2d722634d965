// The search library's records (history.ts) as the protobuf messages of search.proto.
import { genotypeToProto, type BestRecord, type CandidateRecord, type GenerationRecord } from '@rnas/nas';
import type { BestGenotype, Candidate, GenerationReport, PairResult } from '@rnas/proto';
import type { SearchWorkerEvent } from './worker-messages';

export function candidateToProto(c: CandidateRecord): Candidate {
  return {
    index: c.index,
    genotype: genotypeToProto(c.genotype),
    encoding: [...c.encoding],
    trainLoss: c.trainLoss,
    valLoss: c.valLoss,
    valAccuracy: c.valAccuracy,
    diverged: c.diverged ?? false,
  };
}

export function bestToProto(b: BestRecord): BestGenotype {
  return {
    genotype: genotypeToProto(b.genotype),
    valLoss: b.valLoss,
    valAccuracy: b.valAccuracy,
    generation: b.generation,
    member: b.index,
  };
}

/** The PairResult of a finished comparison. */
export function pairResultToProto(e: Extract<SearchWorkerEvent, { type: 'pair' }>): PairResult {
  const [a, b] = e.candidates;
  const teacher = e.record.teacher === a.index ? a : b;
  const student = teacher === a ? b : a;
  return {
    generation: e.generation,
    pair: e.pairsDone - 1,
    teacher: candidateToProto(teacher),
    student: candidateToProto(student),
    imagesPerSecond: e.record.timing.imagesPerSecond,
  };
}

/** The PairResults of a generation record, in the order the pairs ran. */
export function pairResultsOf(record: GenerationRecord): PairResult[] {
  return record.pairs.map((p, i) => ({
    generation: record.generation,
    pair: i,
    teacher: candidateToProto(record.candidates[p.teacher]),
    student: candidateToProto(record.candidates[p.student]),
    imagesPerSecond: p.timing.imagesPerSecond,
  }));
}

/** The GenerationReport of a finished generation; `etaMs` is the caller's estimate. */
export function generationReportToProto(record: GenerationRecord, etaMs: number): GenerationReport {
  return {
    generation: record.generation,
    learningRate: record.learningRate,
    dropPath: record.dropPath,
    population: record.candidates.map(candidateToProto),
    pairs: record.pairs.map((p) => ({ teacher: p.teacher, student: p.student })),
    diversity: record.diversity,
    best: bestToProto(record.bestSoFar),
    imagesPerSecond: record.timing.imagesPerSecond,
    durationMs: Math.round(record.timing.seconds * 1000),
    etaMs: Math.max(0, Math.round(etaMs)),
  };
}
