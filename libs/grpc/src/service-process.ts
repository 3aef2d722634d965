// A service as its own process, the way an operator runs it (`node dist/main.js --port 0 ...`):
// started, found by the `serving` line of its JSON log, and stopped with a real signal. Used by the
// tests that check what only a process can show (SIGTERM, SIGKILL, restarts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ServiceProcess {
  child: ChildProcess;
  /** The gRPC port the service logged it serves on. */
  port: number;
  /** Resolves when the process has exited, with its code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every JSON log line so far (and those to come). */
  logs: Record<string, unknown>[];
}

/**
 * Starts `node main ...args` and resolves once its log says `serving` with a port; rejects with
 * its standard error if it exits before that.
 */
export function spawnServiceProcess(main: string, args: readonly string[]): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const logs: Record<string, unknown>[] = [];
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'serving' && typeof entry.port === 'number')
        resolve({ child, port: entry.port, exited, logs });
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`the service exited (code ${code}, signal ${signal}) before serving: ${stderr}`)),
    );
  });
}

/** Polls `condition` every `everyMs` until it holds; the caller's own timeout bounds the wait. */
export async function pollUntil(condition: () => Promise<boolean>, everyMs = 50): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, everyMs));
}
