// The job package is infrastructure: importing it must not load TensorFlow.js (seconds of start-up
// in every job worker and every service, whether it computes or not).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

it('importing @rnas/jobs loads no TensorFlow.js and no tensor engine', () => {
  const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
  const loaded = execFileSync(
    process.execPath,
    ['-e', `require(${JSON.stringify(dist)}); console.log(JSON.stringify(Object.keys(require.cache)))`],
    { encoding: 'utf8' },
  );
  const modules = JSON.parse(loaded) as string[];
  expect(modules.some((m) => m.endsWith(path.join('libs', 'jobs', 'dist', 'index.js')))).toBe(true);
  expect(modules.filter((m) => m.includes('@tensorflow') || m.includes(path.join('libs', 'engine')))).toEqual(
    [],
  );
});
