import * as path from 'node:path';
import { requireBuiltScript, workerScript } from './script';

describe('workerScript', () => {
  it('is next to a compiled module', () => {
    expect(workerScript('/repo/libs/nas/dist/search/worker-pool.js', 'evaluator-worker.js')).toBe(
      '/repo/libs/nas/dist/search/evaluator-worker.js',
    );
  });

  it('is at the same place under dist/ for a TypeScript source (jest)', () => {
    expect(workerScript('/repo/libs/nas/src/search/worker-pool.ts', 'evaluator-worker.js')).toBe(
      '/repo/libs/nas/dist/search/evaluator-worker.js',
    );
    expect(workerScript('/repo/services/inference/src/compute.ts', 'compute-worker.js')).toBe(
      '/repo/services/inference/dist/compute-worker.js',
    );
    // The package's own src/, the last one on the path.
    expect(workerScript('/src/checkout/libs/x/src/a.ts', 'w.js')).toBe('/src/checkout/libs/x/dist/w.js');
  });

  it('finds this package’s own built files', () => {
    expect(workerScript(__filename, 'index.js')).toBe(path.resolve(__dirname, '..', 'dist', 'index.js'));
  });

  it('refuses a source outside any src/ folder', () => {
    expect(() => workerScript('/repo/scripts/tool.ts', 'w.js')).toThrow(
      'workerScript: /repo/scripts/tool.ts is neither compiled JavaScript nor under a src/ folder',
    );
  });
});

describe('requireBuiltScript', () => {
  it('says how to build a missing script, and accepts one that is there', () => {
    expect(() => requireBuiltScript('/nonexistent/w.js', 'compute worker')).toThrow(
      'compute worker script /nonexistent/w.js does not exist; build the workspace first (npx tsc -b)',
    );
    expect(() => requireBuiltScript('', 'compute worker')).toThrow('does not exist');
    expect(() => requireBuiltScript(__filename, 'compute worker')).not.toThrow();
  });
});
