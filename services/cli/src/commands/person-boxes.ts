// Person boxes for `rnas pose`: `--boxes 'x0,y0,x1,y1;...'` (the same boxes in every image) or
// `--boxes-file FILE` (JSON: image file -> [[x0, y0, x1, y1], ...]). Checked before any call; errors
// name the flag, the value and the box.
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { BoundingBox } from '@rnas/proto';

/** More boxes than this in one image is a mistake rather than a crowd. */
export const MAX_BOXES_PER_IMAGE = 256;
const MAX_BOXES_FILE_BYTES = 16 * 1024 * 1024;

export type Box = [number, number, number, number];

export const toBoundingBox = ([xMin, yMin, xMax, yMax]: Box): BoundingBox => ({ xMin, yMin, xMax, yMax });

/** How far a box may reach past its image: the inference service's tolerance (it clips such boxes). */
export const BOX_TOLERANCE_PX = 1;

/** Why four numbers are not a box (corners x0 < x1 and y0 < y1), or undefined. */
function boxProblem(box: readonly number[]): string | undefined {
  if (box.length !== 4) return `expected 4 numbers x0,y0,x1,y1, got ${box.length}`;
  if (!box.every(Number.isFinite)) return 'expected finite numbers';
  const [x0, y0, x1, y1] = box;
  if (!(x1 > x0 && y1 > y0)) return 'expected x1 > x0 and y1 > y0 (a box of positive area)';
  return undefined;
}

/** Commander parser of `--boxes`: boxes `x0,y0,x1,y1` separated by `;`. */
export function boxList(value: string): Box[] {
  const parts = value.split(';').map((s) => s.trim());
  // One trailing `;` is forgiven; an empty box anywhere else is a typo.
  if (parts.length > 1 && parts.at(-1) === '') parts.pop();
  if (parts.length > MAX_BOXES_PER_IMAGE)
    throw new InvalidArgumentError(`expected at most ${MAX_BOXES_PER_IMAGE} boxes, got ${parts.length}`);
  return parts.map((part, i) => {
    const numbers = part.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    const problem = part === '' ? 'empty' : boxProblem(numbers);
    if (problem !== undefined) throw new InvalidArgumentError(`box ${i + 1} "${part}": ${problem}`);
    return numbers as Box;
  });
}

/**
 * The boxes of a `--boxes-file`: a JSON object whose keys are image files (as given on the command
 * line, or their base names) and values arrays of [x0, y0, x1, y1]. Every key must name one of
 * `files`; images without a key are one person each (the whole image). Returns one list per file.
 */
export async function readBoxesFile(file: string, files: readonly string[]): Promise<Box[][]> {
  const where = `--boxes-file ${file}`;
  let text: string;
  try {
    const info = await lstat(file);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_BOXES_FILE_BYTES)
      throw new Error(`${info.size} bytes, more than ${MAX_BOXES_FILE_BYTES}`);
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new Error(`${where}: cannot read: ${why}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: not JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${where}: expected an object mapping image files to [[x0, y0, x1, y1], ...]`);
  const boxes: Box[][] = files.map(() => []);
  const taken = new Map<number, string>();
  for (const [key, value] of Object.entries(json)) {
    // A path given twice is one image given twice: both get its boxes.
    const exact = files.flatMap((f, i) => (f === key ? [i] : []));
    const matches = exact.length > 0 ? exact : files.flatMap((f, i) => (path.basename(f) === key ? [i] : []));
    const name = JSON.stringify(key);
    if (matches.length === 0) throw new Error(`${where}: ${name} is none of the image files given`);
    const named = new Set(matches.map((i) => files[i]));
    if (named.size > 1)
      throw new Error(`${where}: ${name} names ${named.size} of the image files; use the path as given`);
    for (const index of matches) {
      const other = taken.get(index);
      if (other !== undefined)
        throw new Error(`${where}: ${JSON.stringify(other)} and ${name} both name ${files[index]}`);
      taken.set(index, key);
    }
    if (!Array.isArray(value)) throw new Error(`${where}: ${name}: expected an array of [x0, y0, x1, y1]`);
    if (value.length > MAX_BOXES_PER_IMAGE)
      throw new Error(
        `${where}: ${name}: expected at most ${MAX_BOXES_PER_IMAGE} boxes, got ${value.length}`,
      );
    const list = value.map((box: unknown, i) => {
      const problem =
        Array.isArray(box) && box.every((v) => typeof v === 'number')
          ? boxProblem(box as number[])
          : 'expected an array of 4 numbers [x0, y0, x1, y1]';
      if (problem !== undefined)
        throw new Error(`${where}: ${name}[${i}] ${JSON.stringify(box)?.slice(0, 100)}: ${problem}`);
      return box as Box;
    });
    for (const index of matches) boxes[index] = list;
  }
  return boxes;
}

/**
 * Refuses a box that reaches past its image by more than BOX_TOLERANCE_PX, naming where the box
 * came from and the image.
 */
export function checkBoxesInside(
  boxes: readonly Box[],
  image: { file: string; width: number; height: number },
  source: string,
): void {
  boxes.forEach(([x0, y0, x1, y1], i) => {
    const t = BOX_TOLERANCE_PX;
    if (x0 < -t || y0 < -t || x1 > image.width + t || y1 > image.height + t)
      throw new Error(
        `${source}: box ${i + 1} (${x0},${y0},${x1},${y1}) reaches outside ${image.file} (${image.width}x${image.height})`,
      );
  });
}
