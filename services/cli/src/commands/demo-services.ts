// The three services of `rnas demo` as child processes, started through the built CLI exactly as a
// deployment starts them (`node services/cli/bin/rnas.js serve <service> ...`), each on the ports
// the demo chose, and ready once grpc.health.v1 says it serves. Their logs go to files.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SERVICE_ENDPOINTS, waitForServing, type ServiceKind } from '@rnas/grpc';

export type ServiceName = ServiceKind;

export interface ServicePorts {
  port: number;
  metricsPort: number;
}

export interface RunningService extends ServicePorts {
  readonly name: ServiceName;
  readonly child: ChildProcess;
  /** `host:port` of its gRPC server. */
  readonly address: string;
  /** Its Prometheus endpoint. */
  readonly metricsUrl: string;
  readonly logFile: string;
  /** Resolves with the exit code (or the signal's name) once the process has exited and its log is written. */
  readonly exited: Promise<number | string>;
  /** True once it was sent SIGTERM; an exit before that is a crash. */
  stopping: boolean;
}

export interface StartServiceOptions extends ServicePorts {
  /** Interface to bind, and to reach it on [127.0.0.1]. */
  host?: string;
  /** Its other flags (storage, ...). */
  flags: readonly string[];
  logFile: string;
  /** How long it may take to serve (for inference: to finish its initial model load). */
  timeoutMs: number;
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
 * Starts one service on the given ports and resolves once its health says SERVING (the inference
 * service says so once its initial repository load is done). Rejects with the end of its log when
 * it exits first or takes longer than `timeoutMs`.
 */
export async function startService(name: ServiceName, options: StartServiceOptions): Promise<RunningService> {
  const host = options.host ?? '127.0.0.1';
  const { port, metricsPort, logFile } = options;
  const argv = [
    '--host',
    host,
    '--port',
    String(port),
    '--metrics-port',
    String(metricsPort),
    ...options.flags,
  ];
  // In a process group of its own, so that a Ctrl-C reaches only the demo, which then sends each
  // service one SIGTERM: a second signal would cut the graceful drain short.
  const child = spawn(process.execPath, [rnasBin(), 'serve', name, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
    detached: true,
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  // 'close' comes after the exit and after the last output was read, so the log is complete.
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      log.end(() => resolve(code ?? signal ?? 'unknown'));
    });
  });
  const address = `${host}:${port}`;
  const gone = new AbortController();
  void exited.then((code) => gone.abort(new Error(`exited (${code}) before serving`)));
  try {
    await waitForServing(address, SERVICE_ENDPOINTS[name].service, {
      timeoutMs: options.timeoutMs,
      signal: gone.signal,
    });
  } catch (error) {
    const why = gone.signal.aborted
      ? (error as Error).message
      : `did not start within ${Math.round(options.timeoutMs / 1000)} s (${(error as Error).message})`;
    if (!gone.signal.aborted) {
      child.kill('SIGTERM');
      // A moment for its last lines to reach the file before they are quoted.
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
    }
    throw new Error(`the ${name} service ${why}; its log ${logFile} ends:\n${logTail(logFile)}`);
  }
  return {
    name,
    child,
    port,
    metricsPort,
    address,
    metricsUrl: `http://${host}:${metricsPort}/metrics`,
    logFile,
    exited,
    stopping: false,
  };
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
