// The data benchmark's reading of docs/benchmarks.md: the search network's step time, to compare with.
import { sectionLines } from './docs-section';

export interface StepTime {
  /** The line it came from, quoted in the report so a reader can check the reading. */
  line: string;
  /** Milliseconds per training step, when the line holds exactly one time. */
  ms?: number;
}

/**
 * The search network's training-step time at batch 64 from the architecture benchmark's
 * "Networks" section: the first line that speaks of a training step at batch 64. A time is read
 * from it only when it holds exactly one (`812 ms` or `0.81 s`); otherwise the line is quoted alone.
 */
export function findStepTime(markdown: string): StepTime | undefined {
  const line = sectionLines(markdown, 'Networks').find(
    (l) => /train(ing)?[ -]step/i.test(l) && /\b64\b/.test(l) && /search/i.test(l),
  );
  if (line === undefined) return undefined;
  const times = [...line.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s)\b/g)];
  if (times.length !== 1) return { line: line.trim() };
  const value = Number(times[0][1]);
  return { line: line.trim(), ms: times[0][2] === 's' ? value * 1000 : value };
}
