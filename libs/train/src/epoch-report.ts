import { z } from 'zod';

/** What a finished epoch reports (the EpochReport protobuf message, plus image counts). */
export interface EpochReport {
  /** 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  readonly learningRate: number;
  readonly dropPath: number;
  /** Mean training loss over the epoch's images (auxiliary term included), in training mode. */
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly trainImages: number;
  /** Mean loss on the evaluated test images in inference mode; null when the test split is empty. */
  readonly evalLoss: number | null;
  readonly evalAccuracy: number | null;
  readonly evalImages: number;
  /** The task's evaluation metrics by name ("accuracy"; "AP50", "AP", ...); absent in old checkpoints. */
  readonly evalMetrics?: Readonly<Record<string, number>>;
  /** Training throughput of the epoch (evaluation excluded). */
  readonly imagesPerSecond: number;
  /** Wall time of the epoch, evaluation included (the checkpoint write is not). */
  readonly durationMs: number;
  /** Estimated time to completion from the mean epoch duration of this run. */
  readonly etaMs: number;
}

const finite = z.number().refine(Number.isFinite, 'expected a finite number');
const count = z.number().int().nonnegative();

export const EpochReportSchema = z.strictObject({
  epoch: z.number().int().positive(),
  epochs: z.number().int().positive(),
  learningRate: finite,
  dropPath: finite,
  trainLoss: finite,
  trainAccuracy: finite,
  trainImages: count,
  evalLoss: finite.nullable(),
  evalAccuracy: finite.nullable(),
  evalImages: count,
  evalMetrics: z.record(z.string(), finite).optional(),
  imagesPerSecond: finite,
  durationMs: finite,
  etaMs: finite,
});

/** The report without its timing fields: what must be identical between two runs of one training. */
export function withoutTiming(
  report: EpochReport,
): Omit<EpochReport, 'imagesPerSecond' | 'durationMs' | 'etaMs'> {
  const { imagesPerSecond: _ips, durationMs: _d, etaMs: _eta, ...rest } = report;
  return rest;
}
