// Entry point of the compute worker thread (started by ComputeEngine from the compiled dist/
// file): its own tensor engine, the loaded model versions, one message at a time. Forward passes
// run here so that the service's event loop keeps reading, decoding and queueing requests while a
// batch computes.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, tf } from '@rnas/engine';
import { loadModel, loadModelArtifact, type Model } from '@rnas/model';
import type { ComputeInit, FromCompute, ToCompute } from './compute-protocol';
import { forwardProbabilities, warmUp } from './forward';

const models = new Map<string, Model>();

function memory(): { numTensors: number; numBytes: number; numDataBuffers: number } {
  const { numTensors, numBytes, numDataBuffers } = tf.memory();
  return { numTensors, numBytes, numDataBuffers };
}

function model(key: string): Model {
  const found = models.get(key);
  if (!found) throw new Error(`no model ${key} in the compute worker`);
  return found;
}

async function handle(message: ToCompute): Promise<FromCompute> {
  switch (message.type) {
    case 'load': {
      const artifact = await loadModelArtifact(message.dir);
      const loaded = loadModel(artifact, message.key);
      try {
        warmUp(loaded, message.warmUpBatch);
      } catch (error) {
        loaded.dispose();
        throw new Error(`warm-up at batch size ${message.warmUpBatch} failed: ${(error as Error).message}`);
      }
      models.get(message.key)?.dispose();
      models.set(message.key, loaded);
      return {
        type: 'loaded',
        id: message.id,
        info: {
          spec: artifact.spec,
          labels: [...artifact.labels],
          preprocessing: artifact.preprocessing,
          parameterCount: loaded.network.countParams(),
          metadata: { ...artifact.metadata },
        },
        memory: memory(),
      };
    }
    case 'run':
      return {
        type: 'result',
        id: message.id,
        output: forwardProbabilities(model(message.key), message.input, message.n),
        memory: memory(),
      };
    case 'unload':
      models.get(message.key)?.dispose();
      models.delete(message.key);
      return { type: 'done', id: message.id, memory: memory() };
    case 'memory':
      return { type: 'done', id: message.id, memory: memory() };
  }
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('compute-worker: must run in a worker thread');
  const { backend } = workerData as ComputeInit;
  try {
    port.postMessage({ type: 'ready', backend: await initBackend(backend) } satisfies FromCompute);
  } catch (error) {
    port.postMessage({ type: 'init-error', message: (error as Error).message } satisfies FromCompute);
    return;
  }
  // Loads read files asynchronously: a chain keeps every message in order, one at a time.
  let chain = Promise.resolve();
  port.on('message', (message: ToCompute) => {
    chain = chain.then(async () => {
      let reply: FromCompute;
      try {
        reply = await handle(message);
      } catch (error) {
        reply = { type: 'error', id: message.id, message: (error as Error).message, memory: memory() };
      }
      port.postMessage(reply, reply.type === 'result' ? [reply.output.buffer as ArrayBuffer] : []);
    });
  });
}

void main();
