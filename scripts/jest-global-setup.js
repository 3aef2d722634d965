'use strict';
// Tests that start worker threads or spawn services run dist/ JavaScript, so the whole workspace
// is compiled once here (a no-op when up to date) instead of racing builds from several test files.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.resolve(__dirname, '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-b'], {
    cwd: root,
    stdio: 'inherit',
  });
};
