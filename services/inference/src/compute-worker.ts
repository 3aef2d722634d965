// Entry point of the compute worker thread (started by ComputeEngine from the compiled dist/
// file): its own tensor engine, the loaded model versions, one message at a time. Forward passes
// run here so that the service's event loop keeps reading, decoding and queueing requests while a
// batch computes.
import { initBackend, servingWasmThreads, tf } from '@rnas/engine';
import { loadModel, loadModelArtifact, type Model } from '@rnas/model';
import { serveRequests, workerMemory } from '@rnas/workers';
import type { ComputeInit, ComputeReply, ComputeRequest } from './compute-protocol';
import { forwardProbabilities, warmUp } from './forward';

const models = new Map<string, Model>();

function model(key: string): Model {
  const found = models.get(key);
  if (!found) throw new Error(`no model ${key} in the compute worker`);
  return found;
}

async function handle(message: ComputeRequest): Promise<ComputeReply> {
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
        info: {
          spec: artifact.spec,
          labels: [...artifact.labels],
          preprocessing: artifact.preprocessing,
          parameterCount: loaded.network.countParams(),
          task: loaded.task,
          outputSize: loaded.network.outputSize,
          metadata: { ...artifact.metadata },
        },
      };
    }
    case 'run':
      return { type: 'result', output: forwardProbabilities(model(message.key), message.input, message.n) };
    case 'unload':
      models.get(message.key)?.dispose();
      models.delete(message.key);
      return { type: 'done' };
    case 'memory':
      return { type: 'done' };
  }
}

// Loads read files asynchronously: serveRequests still answers one message at a time, in order.
// The engine leaves one core to the service's gRPC thread and image decoding (servingWasmThreads).
serveRequests('compute-worker', async ({ backend }: ComputeInit) => ({
  ready: await initBackend(backend, { wasmThreads: servingWasmThreads() }),
  handle,
  transfer: (reply: ComputeReply) => (reply.type === 'result' ? [reply.output.buffer as ArrayBuffer] : []),
  memory: () => workerMemory(tf.memory()),
}));
