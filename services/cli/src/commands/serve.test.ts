import type { CliIo } from '../io';
import { runServeCommand } from './serve';

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
