// Entry point of an evaluator worker thread (started by WorkerPoolEvaluator from the compiled
// dist/ file): its own engine instance, the shared dataset, one candidate job at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '@rnas/engine';
import { evaluateCandidate } from './candidate';
import { transferList, type FromWorker, type ToWorker, type WorkerInit } from './worker-pool';

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('evaluator-worker: must run in a worker thread');
  const { setup, backend } = workerData as WorkerInit;
  let ready: FromWorker;
  try {
    ready = { type: 'ready', backend: await initBackend(backend) };
  } catch (err) {
    port.postMessage({ type: 'init-error', message: (err as Error).message } satisfies FromWorker);
    return;
  }
  port.on('message', (msg: ToWorker) => {
    let reply: FromWorker;
    try {
      reply = { type: 'result', id: msg.id, result: evaluateCandidate(msg.job, setup.data) };
    } catch (err) {
      reply = { type: 'error', id: msg.id, message: (err as Error).message };
    }
    port.postMessage(reply, reply.type === 'result' ? transferList(reply.result.params) : []);
  });
  port.postMessage(ready);
}

void main();
