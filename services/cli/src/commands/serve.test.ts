import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { spawnServiceProcess } from '@rnas/grpc';
import type { CliIo } from '../io';
import { runServeCommand } from './serve';

const ROOT = path.resolve(__dirname, '../../../..');

function capture(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t) },
    env: {},
  };
}

describe('rnas serve', () => {
  it('refuses an unknown service, listing the known ones', async () => {
    const io = capture();
    expect(await runServeCommand('constructor', [], io)).toBe(2);
    expect(io.err.join('')).toBe(
      'rnas serve: unknown service "constructor"; expected one of inference|search|training\n',
    );
  });

  it('prints its usage for --help', async () => {
    const io = capture();
    expect(await runServeCommand('--help', [], io)).toBe(0);
    expect(io.out.join('')).toMatch(/^usage: rnas serve inference\|search\|training \[flags\]/);
  });

  it.each([
    ['search', ['--state-dir', '--data-root', '--max-running-searches', '--evaluators'], ['--model-repo']],
    [
      'training',
      ['--state-dir', '--model-repo', '--data-root', '--search-addr', '--evaluator-threads'],
      ['--search-state-dir'],
    ],
    [
      'inference',
      ['--model-repo', '--max-batch-size', '--model-control-mode'],
      ['--state-dir', '--data-root'],
    ],
  ])('lists in `serve %s --help` only the flags that service uses', async (name, listed, absent) => {
    const io = capture();
    expect(await runServeCommand(name, ['--help'], io)).toBe(0);
    const help = io.out.join('');
    expect(help).toMatch(new RegExp(`^usage: rnas serve ${name} \\[flags\\]`));
    for (const flag of ['--host', '--port', '--metrics-port', '--shutdown-grace-ms', ...listed]) {
      expect(help).toContain(`  ${flag} `);
    }
    for (const flag of absent) expect(help).not.toContain(`  ${flag} `);
  });
});

/** Whether something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// The README runs a service as `node services/cli/bin/rnas.js serve ...`, so that the process an
// operator (or a supervisor, or the kubelet) sends SIGTERM to is node itself and drains. `npx rnas
// serve` puts npm in between, which does not pass SIGTERM on: npm dies and the service is left
// running without its parent (issue 16, defect 3). jest's global setup builds the workspace.
describe('rnas serve, run the way the README says', () => {
  const readmes = ['README.md', ...['search', 'training', 'inference'].map((s) => `services/${s}/README.md`)];
  const BIN = path.join(ROOT, 'services', 'cli', 'bin', 'rnas.js');

  it.each(readmes)('%s starts long-running services with node, never through npx', (file) => {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    // No command line starts a service through npx (the prose may warn against it).
    expect(text).not.toMatch(/^\s*(\$ )?npx rnas serve/m);
    expect(text).toMatch(/node services\/cli\/bin\/rnas\.js serve (search|training|inference)/);
  });

  it('drains on SIGTERM to that process and exits 0, leaving nothing serving', async () => {
    const models = mkdtempSync(path.join(tmpdir(), 'rnas-serve-'));
    try {
      const service = await spawnServiceProcess(BIN, [
        'serve',
        'inference',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--metrics-port',
        '0',
        '--model-repo',
        models,
      ]);
      const serving = service.logs.find((l) => l.msg === 'serving') as { port: number; metricsPort: number };
      expect(await listening(service.port)).toBe(true);
      expect(await listening(serving.metricsPort)).toBe(true);
      service.child.kill('SIGTERM');
      expect(await service.exited).toEqual({ code: 0, signal: null });
      expect(service.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['draining', 'stopped']));
      // The process told to stop was the service: nothing is left on its ports, and it is gone.
      expect(await listening(service.port)).toBe(false);
      expect(await listening(serving.metricsPort)).toBe(false);
      expect(() => process.kill(service.child.pid as number, 0)).toThrow(/ESRCH/);
    } finally {
      rmSync(models, { recursive: true, force: true });
    }
  }, 60_000);
});
