// What the client commands' tests share: the CLI run in process with its output captured.
import { Writable } from 'node:stream';
import type { CliIo } from './io';
import { runCli } from './program';

/** Runs `rnas ...args`; stderr is a stream (a terminal with `tty`), the environment only `env`. */
export async function rnas(
  args: string[],
  options: { tty?: boolean; env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (out += t) },
    stderr: Object.assign(new Writable({ write: (c: Buffer, _e, done) => ((err += c.toString()), done()) }), {
      isTTY: options.tty === true,
    }),
    env: options.env ?? {},
    stdin: (async function* () {
      if (options.stdin !== undefined) yield options.stdin;
    })(),
  };
  const code = await runCli(args, io);
  return { code, out, err };
}
