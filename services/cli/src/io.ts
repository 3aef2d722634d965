/** Where a command writes and what it reads from its environment; tests pass their own. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** What a command reads from standard input (`rnas token hash`) [process.stdin]. */
  stdin?: AsyncIterable<Buffer | string>;
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
