// The three services of `rnas demo` as child processes, started through the built CLI exactly as a
// deployment starts them (`node services/cli/bin/rnas.js serve <service> ...`), each on ports the
// kernel picks (--port 0): the JSON "serving" log line says which. Their logs go to files.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { isInitialLoadDone, servingPorts } from './demo-config';

export type ServiceName = 'search' | 'training' | 'inference';

export interface RunningService {
  readonly name: ServiceName;
  readonly child: ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  readonly logFile: string;
  /** Resolves with the exit code (or the signal's name) once the process has exited and its log is written. */
  readonly exited: Promise<number | string>;
  /** True once it was sent SIGTERM; an exit before that is a crash. */
  stopping: boolean;
}

/** The `rnas` launcher of this build: dist/commands/demo.js lives two levels under the package. */
export function rnasBin(): string {
  return path.resolve(__dirname, '..', '..', 'bin', 'rnas.js');
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(file: string, lines = 8): string {
  if (!existsSync(file)) return '(no log)';
  const text = readFileSync(file, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).join('\n');
}

/**
 * Starts one service and resolves once it serves (for inference: once its initial repository
 * load is done). Rejects with the end of its log when it exits first or takes longer than
 * `timeoutMs`.
 */
export function startService(
  name: ServiceName,
  flags: readonly string[],
  logFile: string,
  timeoutMs: number,
): Promise<RunningService> {
  // In a process group of its own, so that a Ctrl-C reaches only the demo, which then sends each
  // service one SIGTERM: a second signal would cut the graceful drain short.
  const child = spawn(process.execPath, [rnasBin(), 'serve', name, ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
    detached: true,
  });
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  child.stderr?.pipe(log, { end: false });
  // 'close' comes after the exit and after the last output was read, so the log is complete.
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      log.end(() => resolve(code ?? signal ?? 'unknown'));
    });
  });
  return new Promise((resolve, reject) => {
    let ports: { port: number; metricsPort: number } | undefined;
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Give the last lines a moment to reach the file before quoting it.
      setTimeout(
        () => reject(new Error(`the ${name} service ${why}; its log ${logFile} ends:\n${logTail(logFile)}`)),
        200,
      );
    };
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      fail(`did not start within ${Math.round(timeoutMs / 1000)} s`);
    }, timeoutMs);
    void exited.then((code) => fail(`exited (${code}) before serving`));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      if (settled) return;
      ports ??= servingPorts(line);
      if (ports !== undefined && (name !== 'inference' || isInitialLoadDone(line))) {
        settled = true;
        clearTimeout(timer);
        resolve({ name, child, ...ports, logFile, exited, stopping: false });
      }
    });
  });
}

/** Sends the service SIGTERM, once. */
export function signalStop(service: RunningService): void {
  if (service.stopping) return;
  service.stopping = true;
  if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGTERM');
}

/**
 * Stops a service the way an operator does: SIGTERM, then waits for its graceful drain. Resolves
 * with a problem in words, or undefined when it exited with code 0 in time; past `timeoutMs` it
 * is killed.
 */
export async function stopService(service: RunningService, timeoutMs: number): Promise<string | undefined> {
  signalStop(service);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
  });
  const outcome = await Promise.race([service.exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    service.child.kill('SIGKILL');
    await service.exited;
    return `the ${service.name} service did not stop within ${Math.round(timeoutMs / 1000)} s of SIGTERM; killed`;
  }
  return outcome === 0 ? undefined : `the ${service.name} service exited with ${outcome} after SIGTERM`;
}
