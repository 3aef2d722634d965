#!/usr/bin/env node
'use strict';
// Thin launcher so npm can link the bin before the TypeScript is compiled (`make build`).
try {
  require.resolve('../dist/main.js');
} catch {
  console.error('rnas: not built yet; run `make build` first');
  process.exit(1);
}
require('../dist/main.js');
