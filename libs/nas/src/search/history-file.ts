// Reading a search history back (format rnas-search-history/2: history.json, and the history a
// checkpoint carries): the shape checked by zod, every field named on a mismatch, and the one
// place where JSON's nulls become numbers again. JSON has no NaN: a diverged candidate's loss is
// written as null and read back as NaN; a null anywhere else is an error naming its field.
import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { validateGenotype, type Genotype } from '../genotype';
import { HISTORY_FORMAT, type SearchHistory } from './history';
import { resolveSearchConfig } from './search-config';

/** A history is a few MB at most (50 generations of 20 members: about 1 MB); far larger is not ours. */
export const MAX_HISTORY_BYTES = 512 * 1024 * 1024;

const finite = z.number().refine(Number.isFinite, 'expected a finite number');
const loss = z
  .number()
  .nullable()
  .transform((v) => (v === null ? Number.NaN : v));
const int = z.number().int();
const edge = z.tuple([z.string(), int]);
const genotype = z.strictObject({
  normal: z.array(edge),
  normalConcat: z.array(int),
  reduce: z.array(edge),
  reduceConcat: z.array(int),
});
const timing = z.strictObject({ seconds: z.number(), imagesPerSecond: z.number() });
const best = z.strictObject({
  generation: int,
  index: int,
  genotype,
  valLoss: loss,
  valAccuracy: finite,
});
const generationRecord = z.strictObject({
  generation: int,
  learningRate: finite,
  dropPath: finite,
  diversity: finite,
  candidates: z.array(
    z.strictObject({
      index: int,
      encoding: z.array(finite),
      genotype,
      trainLoss: loss,
      trainAccuracy: finite,
      valLoss: loss,
      valAccuracy: finite,
      // Absent in histories written before divergence was flagged.
      diverged: z.boolean().optional(),
    }),
  ),
  pairs: z.array(
    z.strictObject({
      members: z.tuple([int, int]),
      teacher: int,
      student: int,
      weightSetUpdated: z.boolean(),
      timing,
    }),
  ),
  best,
  bestSoFar: best,
  trainImages: int,
  valImages: int,
  timing,
});
const finalRecord = z.strictObject({
  candidates: z.array(
    z.strictObject({
      generation: int,
      index: int,
      encoding: z.array(finite),
      genotype,
      valLoss: loss,
      valAccuracy: finite,
    }),
  ),
  best,
  valImages: int,
  valAugmented: z.boolean(),
  timing,
});

/** A history during the search (what a checkpoint holds): no final choice yet. */
export const runningHistorySchema = z.strictObject({
  format: z.literal(HISTORY_FORMAT),
  config: z.record(z.string(), z.unknown()),
  data: z.strictObject({
    source: z.string(),
    trainSize: int,
    valSize: int,
    classes: int,
    imageShape: z.array(int),
  }),
  generations: z.array(generationRecord),
});

/** history.json: the final choice is there once every generation has run. */
const historySchema = runningHistorySchema.extend({ final: finalRecord.optional() });

/** `a.b.0.c: message` of zod's first issue. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue.path.join('.') || '(root)'}: ${issue.message}`;
}

/**
 * What zod cannot say about a validated history: its configuration is one resolveSearchConfig
 * accepts, its generations are numbered 0, 1, ..., and its best genotypes are valid. Throws an
 * Error naming the field under `at` (the history's path in its file, '' at the root).
 */
export function checkHistory(history: z.output<typeof historySchema>, at = ''): SearchHistory {
  const field = (name: string): string => (at === '' ? name : `${at}.${name}`);
  const config = resolveSearchConfig(history.config);
  history.generations.forEach((g, i) => {
    if (g.generation !== i) throw new Error(`${field(`generations[${i}]`)} is generation ${g.generation}`);
    validateGenotype(g.best.genotype as Genotype, field(`generations[${i}].best.genotype`));
    validateGenotype(g.bestSoFar.genotype as Genotype, field(`generations[${i}].bestSoFar.genotype`));
  });
  if (history.final !== undefined) {
    validateGenotype(history.final.best.genotype as Genotype, field('final.best.genotype'));
  }
  return { ...(history as unknown as SearchHistory), config };
}

/**
 * Reads a JSON file of at most `maxBytes` (checked before reading); null when there is none (a
 * file holding `null` is `{ json: null }`). Errors are `${what} ${file}: ...`.
 */
export async function readJsonFile(
  file: string,
  maxBytes: number,
  what: string,
): Promise<{ json: unknown } | null> {
  let text: string;
  try {
    const { size } = await stat(file);
    if (size > maxBytes) throw new Error(`${what} ${file}: ${size} bytes is more than a ${what} may have`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return { json: JSON.parse(text) as unknown };
  } catch (err) {
    throw new Error(`${what} ${file}: not JSON (${(err as Error).message})`);
  }
}

/** Validates a parsed history.json; `file` names it in errors. */
export function parseSearchHistory(raw: unknown, file: string): SearchHistory {
  const parsed = historySchema.safeParse(raw);
  if (!parsed.success) throw new Error(`search history ${file}: ${firstIssue(parsed.error)}`);
  try {
    return checkHistory(parsed.data);
  } catch (err) {
    throw new Error(`search history ${file}: ${(err as Error).message}`);
  }
}

/** A search's history.json (see searchArtifacts), validated; null when the file does not exist. */
export async function readSearchHistory(file: string): Promise<SearchHistory | null> {
  const read = await readJsonFile(file, MAX_HISTORY_BYTES, 'search history');
  return read === null ? null : parseSearchHistory(read.json, file);
}
