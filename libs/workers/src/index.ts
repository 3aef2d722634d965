export { workerScript, requireBuiltScript } from './script';
export { serializeError, deserializeError, isSerializedError, type SerializedError } from './errors';
export { workerMemory, sumWorkerMemory, isWorkerMemory, type WorkerMemory } from './memory';
export {
  WorkerThread,
  WorkerDiedError,
  parentThread,
  type WorkerThreadOptions,
  type WorkerThreadHandlers,
  type ParentThread,
} from './thread';
export {
  RequestThread,
  serveRequests,
  type RequestThreadOptions,
  type RequestServer,
  type ToRequestThread,
  type FromRequestThread,
} from './requests';
