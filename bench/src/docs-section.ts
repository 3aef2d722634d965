// docs/benchmarks.md: every benchmark owns one `## ` section of it and rewrites only its own.
import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '@rnas/fs';

/** The repository root: this file sits in bench/src (tests) or bench/dist (the commands). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The file the benchmarks write. */
export const BENCHMARKS_DOC = path.join(REPO_ROOT, 'docs', 'benchmarks.md');

/** What a new benchmarks file starts with. */
const INTRO = `# Benchmarks

Measured performance of the platform. Each section says which command produced it, on which
machine and when; rerun that command to refresh it (machines shared with other work give noisy
numbers).
`;

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

/** The lines of the `## <heading>` section, without the heading; [] when there is none. */
export function sectionLines(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

/** The file's contents; '' when it does not exist. */
export async function readDoc(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/**
 * Rewrites the `## <heading>` section of `file` (default docs/benchmarks.md) with `body`, leaving
 * every other section as it is; a missing file is created with the benchmarks' introduction. The
 * file is replaced atomically: an interrupted benchmark never leaves half a document.
 */
export async function writeDocSection(heading: string, body: string, file = BENCHMARKS_DOC): Promise<void> {
  const current = await readDoc(file);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, replaceSection(current === '' ? INTRO : current, heading, body));
}
