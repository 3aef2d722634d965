// Where the image commands write their pictures (detect --draw, segment --overlay and --raw, pose
// --draw): DIR/<name>.png per input, checked before any call so that a bad folder costs no request.
import { access, constants, mkdir } from 'node:fs/promises';
import path from 'node:path';

/** How messages name what is written: `--draw out: drawing a.png would overwrite ...`. */
export interface OutputFlag {
  flag: string;
  /** `drawing` */
  gerund: string;
  /** `drawn` */
  past: string;
}

export const DRAW: OutputFlag = { flag: '--draw', gerund: 'drawing', past: 'drawn' };

/**
 * Where each file goes, DIR/<name without extension>.png; refused when two files would share an
 * output or an output would overwrite an input.
 */
export function outputPaths(files: readonly string[], dir: string, what: OutputFlag = DRAW): string[] {
  const outputs = files.map((file) => path.join(dir, `${path.parse(file).name}.png`));
  const inputs = new Set(files.map((f) => path.resolve(f)));
  const seen = new Map<string, string>();
  outputs.forEach((out, i) => {
    const resolved = path.resolve(out);
    const other = seen.get(resolved);
    if (other !== undefined)
      throw new Error(`${what.flag} ${dir}: ${other} and ${files[i]} would both be ${what.past} to ${out}`);
    if (inputs.has(resolved))
      throw new Error(`${what.flag} ${dir}: ${what.gerund} ${files[i]} would overwrite input ${out}`);
    seen.set(resolved, files[i]);
  });
  return outputs;
}

/** Creates the folder (and its parents) and checks that it can be written, before any call. */
export async function prepareOutputDir(dir: string, flag: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES'
        ? 'permission denied'
        : code === 'EEXIST' || code === 'ENOTDIR'
          ? 'not a directory'
          : (error as Error).message;
    throw new Error(`${flag} ${dir}: cannot write there: ${why}`);
  }
}
