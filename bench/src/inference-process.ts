// The inference service in a process of its own, as deployed, for the load benchmarks: the
// benchmark script starts itself with `--serve <flags>` (which runs the service's main) and waits
// until the service has loaded its repository.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { BackendInfo } from '@rnas/engine';
import { main as serviceMain } from '@rnas/inference';

export interface RunningServer {
  child: ChildProcess;
  port: number;
  metricsPort: number;
}

/** Starts `node <script> --serve <flags>` and waits until it has loaded the repository. */
export function startServer(script: string, flags: string[], backend: BackendInfo): Promise<RunningServer> {
  const child = spawn(process.execPath, [script, '--serve', ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RNAS_BACKEND: backend.name },
  });
  return new Promise((resolve, reject) => {
    let ports: { port: number; metricsPort: number } | undefined;
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const onExit = (code: number | null): void =>
      reject(new Error(`the service exited with code ${code} before serving`));
    child.once('exit', onExit);
    lines.on('line', (line) => {
      let entry: { msg?: string; port?: number; metricsPort?: number; level?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.level === 'error' || entry.level === 'fatal') process.stderr.write(`service: ${line}\n`);
      if (entry.msg === 'serving' && entry.port !== undefined && entry.metricsPort !== undefined) {
        ports = { port: entry.port, metricsPort: entry.metricsPort };
      }
      if (entry.msg === 'initial model load done: serving' && ports) {
        child.off('exit', onExit);
        resolve({ child, ...ports });
      }
    });
  });
}

export async function stopServer(server: RunningServer): Promise<void> {
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  server.child.kill('SIGTERM');
  await exited;
}

/**
 * A load benchmark's entry point: `--serve <flags>` runs the inference service (what `startServer`
 * starts), anything else the benchmark. Sets the exit code; an error is printed, not thrown.
 */
export function benchmarkMain(bench: (argv: readonly string[]) => Promise<number>): void {
  const argv = process.argv.slice(2);
  const run = argv[0] === '--serve' ? serviceMain(argv.slice(1)) : bench(argv);
  run.then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
