// Entry point of the `rnas` command (bin/rnas.js loads the compiled file).
import { runCli } from './program';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
