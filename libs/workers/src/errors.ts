// Errors cross a thread boundary as plain data: what the receiving side needs to classify one
// (its name, message and the gRPC status name a domain error carries), not the object.

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  /** A gRPC status name the error carried (DataError, TrainError), if any. */
  code?: string;
}

/** What a thread reports of `err` (anything thrown). */
export function serializeError(err: unknown): SerializedError {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
}

/** The Error the other side sees: same name, message and code. */
export function deserializeError(info: SerializedError): Error {
  const error = new Error(info.message);
  error.name = info.name;
  if (info.code !== undefined) Object.assign(error, { code: info.code });
  return error;
}

/** Whether `value` has the shape of a SerializedError (it came from another thread). */
export function isSerializedError(value: unknown): value is SerializedError {
  if (typeof value !== 'object' || value === null) return false;
  const { name, message, code } = value as Record<string, unknown>;
  return (
    typeof name === 'string' &&
    typeof message === 'string' &&
    (code === undefined || typeof code === 'string')
  );
}
