// The tensor-engine memory a worker thread reports (tf.memory()'s numbers), so that the service
// thread can export it: each thread has its own engine instance, which no other thread can read.

export interface WorkerMemory {
  numTensors: number;
  numBytes: number;
  numDataBuffers: number;
}

/** The report from what the engine says (`workerMemory(tf.memory())`): only the fields exported. */
export function workerMemory(memory: WorkerMemory): WorkerMemory {
  const { numTensors, numBytes, numDataBuffers } = memory;
  return { numTensors, numBytes, numDataBuffers };
}

/** Several threads' reports added up; zeros for none. */
export function sumWorkerMemory(reports: Iterable<WorkerMemory>): WorkerMemory {
  const total: WorkerMemory = { numTensors: 0, numBytes: 0, numDataBuffers: 0 };
  for (const m of reports) {
    total.numTensors += m.numTensors;
    total.numBytes += m.numBytes;
    total.numDataBuffers += m.numDataBuffers;
  }
  return total;
}

/** Whether `value` is a report: three finite counts >= 0 (it came from another thread). */
export function isWorkerMemory(value: unknown): value is WorkerMemory {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return [m.numTensors, m.numBytes, m.numDataBuffers].every(
    (n) => typeof n === 'number' && Number.isFinite(n) && n >= 0,
  );
}
