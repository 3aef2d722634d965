// Worker threads run compiled JavaScript: a package's worker script lives in its dist/, made by
// `npx tsc -b`, also when the code that starts it runs from the TypeScript sources (jest).
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The compiled worker script `fileName` of the package whose module is `moduleFile` (pass
 * `__filename`): next to that module when it runs compiled, else at the same place under the
 * package's dist/ (src/search/pool.ts -> dist/search/`fileName`).
 */
export function workerScript(moduleFile: string, fileName: string): string {
  const dir = path.dirname(moduleFile);
  if (moduleFile.endsWith('.js')) return path.join(dir, fileName);
  const parts = dir.split(path.sep);
  const src = parts.lastIndexOf('src');
  if (src < 0) {
    throw new Error(`workerScript: ${moduleFile} is neither compiled JavaScript nor under a src/ folder`);
  }
  parts[src] = 'dist';
  return path.join(parts.join(path.sep), fileName);
}

/** Throws, saying how to build it, when the worker script is not there. */
export function requireBuiltScript(script: string, label: string): void {
  if (!existsSync(script)) {
    throw new Error(`${label} script ${script} does not exist; build the workspace first (npx tsc -b)`);
  }
}
