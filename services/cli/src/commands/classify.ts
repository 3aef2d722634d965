// `rnas classify --model NAME FILE...`: sends image files to an inference service and prints the
// best classes of each, one line per file (or one JSON object per line with --json).
import { lstat, readFile } from 'node:fs/promises';
import type { ServiceError } from '@grpc/grpc-js';
import { Command, InvalidArgumentError } from 'commander';
import { isServiceError } from '@rnas/grpc';
import { InferenceServiceService, type ClassifyRequest, type Classification } from '@rnas/proto';
import { positiveInt } from '../args';
import { processIo, type CliIo } from '../io';
import { addressOption, serviceCallError, unreachableHint, withService } from './service-client';

const DEFAULT_BATCH = 8;
const DEFAULT_TIMEOUT_MS = 30_000;
/** Larger files are refused here; the service bounds its messages anyway (4 MiB by default). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export interface ClassifyCommandOptions {
  model: string;
  version?: number;
  topK?: number;
  addr?: string;
  batch?: number;
  json?: boolean;
  timeoutMs?: number;
}

/** An image file's bytes; errors name the file. */
async function readImage(file: string): Promise<Buffer> {
  let info;
  try {
    info = await lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new Error(`image file ${file} (argument FILE): cannot read: ${why}`);
  }
  if (!info.isFile()) throw new Error(`image file ${file} (argument FILE): not a regular file`);
  if (info.size > MAX_FILE_BYTES)
    throw new Error(`image file ${file} (argument FILE): ${info.size} bytes, more than ${MAX_FILE_BYTES}`);
  return readFile(file);
}

function formatLine(file: string, classification: Classification): string {
  const scores = classification.scores.map((s) => `${s.label} ${s.score.toFixed(4)}`).join('  ');
  return `${file}\t${scores}\n`;
}

export async function runClassifyCommand(
  files: readonly string[],
  options: ClassifyCommandOptions,
  io: CliIo,
): Promise<number> {
  const batch = options.batch ?? DEFAULT_BATCH;
  const connect = { addr: options.addr, deadlineMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  return withService('inference', InferenceServiceService, connect, io, async ({ client, address }) => {
    for (let start = 0; start < files.length; start += batch) {
      const chunk = files.slice(start, start + batch);
      const images = await Promise.all(chunk.map(readImage));
      const request: ClassifyRequest = {
        modelName: options.model,
        version: options.version,
        topK: options.topK ?? 0,
        input: { $case: 'images', value: { images } },
      };
      const response = await client.classify(request).catch((error: unknown) => {
        throw isServiceError(error) ? classifyError(error, chunk, address) : error;
      });
      response.classifications.forEach((classification, i) => {
        io.stdout.write(
          options.json
            ? `${JSON.stringify({
                file: chunk[i],
                model: response.modelName,
                version: response.version,
                scores: classification.scores,
              })}\n`
            : formatLine(chunk[i], classification),
        );
      });
    }
    return 0;
  });
}

/** Names the file when the service refused one image of a request (`images.images[3]`). */
function classifyError(error: ServiceError, chunk: readonly string[], address: string): Error {
  const index = /images\.images\[(\d+)\]/.exec(error.details ?? '');
  const file = index ? chunk[Number(index[1])] : undefined;
  const what = file === undefined ? 'classify failed' : `classify failed for ${file}`;
  return serviceCallError(what, address, error, unreachableHint('inference'));
}

function nonNegativeInt(value: string): number {
  if (!/^\s*\d{1,10}\s*$/.test(value))
    throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return Number(value);
}

/** The `classify` subcommand, ready to add to the program. */
export function classifyCommand(io: CliIo = processIo): Command {
  return new Command('classify')
    .description('classify JPEG, PNG or WebP files with a model of an inference service')
    .argument('<files...>', 'image files')
    .requiredOption('--model <name>', 'model name (see rnas models)')
    .option('--version <n>', 'model version (default: the serving version)', positiveInt)
    .option('--top-k <k>', 'classes printed per image; 0 means 5 (default 0)', nonNegativeInt)
    .addOption(addressOption('inference'))
    .option('--batch <n>', `images sent per request (default ${DEFAULT_BATCH})`, positiveInt)
    .option('--json', 'one JSON object per file: file, model, version, scores')
    .option('--timeout-ms <ms>', `deadline of each call (default ${DEFAULT_TIMEOUT_MS})`, positiveInt)
    .action(async (files: string[], options: ClassifyCommandOptions) => {
      process.exitCode = await runClassifyCommand(files, options, io);
    });
}
