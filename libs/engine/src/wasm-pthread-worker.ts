// Entry of each WebAssembly thread of the threaded wasm backend (wasm-threads.ts starts it through
// Emscripten). tfjs-backend-wasm ships the pthread worker's code as a string, meant for a Blob URL
// in browsers; a Node worker runs it here as a script in its global scope, with the CommonJS names
// it uses. The string holds "\n" escapes that its template literal turned into newlines inside
// string literals: they are escaped again, as tfjs does before making its Blob.
import { createRequire } from 'node:module';

const requireHere = createRequire(__filename);
const { wasmWorkerContents } = requireHere(
  '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js',
) as { wasmWorkerContents: string };

Object.assign(globalThis, { require: requireHere, __filename });
// An indirect eval runs the code in the worker's global scope, as a classic worker script.
(0, eval)(wasmWorkerContents.replace(/\n/g, '\\n'));
