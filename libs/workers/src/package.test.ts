// The worker package sits under the job runners, the search's evaluators and inference: importing
// it must load nothing but itself (no TensorFlow.js, no gRPC, no SQLite) and Node's own modules.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

it('importing @rnas/workers loads no module outside its own dist/', () => {
  const dist = path.resolve(__dirname, '..', 'dist');
  const loaded = execFileSync(
    process.execPath,
    [
      '-e',
      `require(${JSON.stringify(path.join(dist, 'index.js'))}); console.log(JSON.stringify(Object.keys(require.cache)))`,
    ],
    { encoding: 'utf8' },
  );
  const modules = JSON.parse(loaded) as string[];
  expect(modules).toContain(path.join(dist, 'index.js'));
  expect(modules.filter((m) => !m.startsWith(dist + path.sep))).toEqual([]);
});
