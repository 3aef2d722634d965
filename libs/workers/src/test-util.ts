// Worker scripts for this package's tests: threads run compiled JavaScript, so each is written to
// a temporary folder and requires the built package (jest's global setup builds it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const DIST = path.resolve(__dirname, '..', 'dist', 'index.js');

const SCRIPTS = {
  /** Echoes each message with the start data; crashes, exits or loops when told to. */
  thread: `
const { parentThread } = require(${JSON.stringify(DIST)});
const parent = parentThread('thread-script');
parent.onMessage((message) => {
  if (message.op === 'echo') parent.post({ echo: message.value, data: parent.data });
  if (message.op === 'bytes') parent.post({ bytes: message.buffer.byteLength });
  if (message.op === 'throw') throw new TypeError('boom');
  if (message.op === 'exit') process.exit(3);
  if (message.op === 'loop') {
    parent.post({ looping: true });
    for (;;) {}
  }
});
`,
  /** A request thread: ready with the start data's tag, counting its memory up with each request. */
  requests: `
const { serveRequests } = require(${JSON.stringify(DIST)});
const { threadId } = require('node:worker_threads');
let count = 0;
serveRequests('requests-script', async (data) => {
  if (data.exitAtStart) process.exit(2);
  if (data.failAtStart || (data.failEven && threadId % 2 === 0)) throw new Error('no backend');
  await new Promise((resolve) => setTimeout(resolve, 1));
  return {
    ready: 'ready ' + data.tag,
    async handle(request) {
      count++;
      switch (request.op) {
        case 'echo':
          // Later requests finish sooner: replies still come in order.
          await new Promise((resolve) => setTimeout(resolve, request.delayMs ?? 0));
          return request.value;
        case 'throw':
          throw Object.assign(new RangeError('bad batch'), { code: 'INVALID_ARGUMENT' });
        case 'throw-string':
          throw 'plain string';
        case 'scale':
          return Float32Array.from(request.input, (x) => x * 2);
        case 'uncloneable':
          return { f: () => 1 };
        case 'exit':
          process.exit(5);
        case 'loop':
          for (;;) {}
      }
    },
    transfer: (reply) => (reply instanceof Float32Array ? [reply.buffer] : []),
    memory: () => ({ numTensors: count, numBytes: 4 * count, numDataBuffers: 1, unreliable: false }),
  };
});
`,
  /** Breaks the request protocol in the way the start data says. */
  hostile: `
const { parentPort, workerData } = require('node:worker_threads');
const mode = workerData.mode;
if (mode === 'garbage') parentPort.postMessage(42);
else if (mode === 'null') parentPort.postMessage(null);
else if (mode === 'bad-init-error') parentPort.postMessage({ kind: 'init-error', error: 'no' });
else {
  parentPort.on('message', ({ id }) => {
    if (mode === 'unknown-id') parentPort.postMessage({ kind: 'reply', id: id + 1000, reply: 1 });
    if (mode === 'bad-memory')
      parentPort.postMessage({ kind: 'reply', id, reply: 1, memory: { numTensors: -1, numBytes: 0, numDataBuffers: 0 } });
    if (mode === 'bad-error') parentPort.postMessage({ kind: 'failed', id, error: { message: 7 } });
    if (mode === 'unknown-kind') parentPort.postMessage({ kind: 'surprise', id });
    if (mode === 'no-id') parentPort.postMessage({ kind: 'reply', reply: 1 });
  });
  parentPort.postMessage({ kind: 'ready', ready: 'hostile' });
}
`,
};

export type ScriptName = keyof typeof SCRIPTS;

/** Writes the scripts; returns their paths and a clean-up. */
export function writeScripts(): { script(name: ScriptName): string; dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'rnas-workers-'));
  for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(path.join(dir, `${name}.js`), text);
  return {
    dir,
    script: (name) => path.join(dir, `${name}.js`),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
