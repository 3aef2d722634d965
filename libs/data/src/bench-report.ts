/**
 * Helpers of the data benchmark that touch docs/benchmarks.md: every benchmark owns one `## `
 * section of that file and rewrites only its own.
 */

/** Replaces the `## <heading>` section (up to the next `## ` heading) with `body`, or appends it. */
export function replaceSection(markdown: string, heading: string, body: string): string {
  const section = `## ${heading}\n\n${body.trim()}\n`;
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start < 0) {
    const base = markdown.trim() === '' ? '# Benchmarks\n' : markdown.replace(/\n*$/, '\n');
    return `${base}\n${section}`;
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const before = lines.slice(0, start).join('\n');
  const after = lines.slice(end).join('\n');
  return `${before}${before === '' ? '' : '\n'}${section}${after === '' ? '' : `\n${after}`}`.replace(
    /\n*$/,
    '\n',
  );
}

/** The lines of the `## <heading>` section, without the heading. */
export function sectionLines(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

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
