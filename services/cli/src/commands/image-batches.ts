// What the image commands of the inference service (classify, detect) share: image files read
// with errors that name them, sent a batch per request, and a refused image named by its file.
import { lstat, readFile } from 'node:fs/promises';
import type { ServiceError } from '@grpc/grpc-js';
import { Command } from 'commander';
import { isServiceError, type PromiseClient } from '@rnas/grpc';
import { InferenceServiceService } from '@rnas/proto';
import { positiveInt } from '../args';
import type { CliIo } from '../io';
import {
  addressOption,
  securityFlags,
  serviceCallError,
  unreachableHint,
  withService,
  type SecurityFlags,
} from './service-client';

const DEFAULT_BATCH = 8;
const DEFAULT_TIMEOUT_MS = 30_000;
/** Larger files are refused here; the service bounds its messages anyway (4 MiB by default). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export type InferenceClient = PromiseClient<typeof InferenceServiceService>;

/** The flags of an image command that say where and how to send. */
export interface ImageBatchOptions extends SecurityFlags {
  addr?: string;
  batch?: number;
  timeoutMs?: number;
  /** One JSON object per file instead of text. */
  json?: boolean;
}

/** What a command prints for one file: with --json its fields after file, model and version, else its text. */
export interface FileResult {
  fields: Record<string, unknown>;
  /** Whole lines, each ending in a newline. */
  text: string;
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

/** Names the file when the service refused one image of a request (`images.images[3]`). */
function imageCallError(verb: string, error: ServiceError, chunk: readonly string[], address: string): Error {
  const index = /images\.images\[(\d+)\]/.exec(error.details ?? '');
  const file = index ? chunk[Number(index[1])] : undefined;
  const what = file === undefined ? `${verb} failed` : `${verb} failed for ${file}`;
  return serviceCallError(what, address, error, unreachableHint('inference'));
}

/** One batch of files: their names and bytes in order, and where the service is. */
export interface ImageBatch {
  files: readonly string[];
  images: Buffer[];
  /** Index of the batch's first file among all the files. */
  start: number;
  address: string;
}

/**
 * Sends `files` to the inference service `batch` at a time with `send`, turns each response into
 * one result per file with `receive` and prints them in order; a failed call becomes one line
 * naming the refused file (`<verb> failed for a.png at host:port: INVALID_ARGUMENT: ...`). Returns
 * the exit code, 0.
 */
export function sendImageBatches<R extends { modelName: string; version: number }>(
  verb: string,
  files: readonly string[],
  options: ImageBatchOptions,
  io: CliIo,
  send: (
    client: InferenceClient,
    images: Buffer[],
    batch: { files: readonly string[]; start: number },
  ) => Promise<R>,
  receive: (response: R, batch: ImageBatch) => Promise<FileResult[]> | FileResult[],
): Promise<number> {
  const size = options.batch ?? DEFAULT_BATCH;
  const connect = {
    ...securityFlags(options),
    addr: options.addr,
    deadlineMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
  return withService('inference', InferenceServiceService, connect, io, async ({ client, address }) => {
    for (let start = 0; start < files.length; start += size) {
      const chunk = files.slice(start, start + size);
      const images = await Promise.all(chunk.map(readImage));
      const response = await send(client, images, { files: chunk, start }).catch((error: unknown) => {
        throw isServiceError(error) ? imageCallError(verb, error, chunk, address) : error;
      });
      const results = await receive(response, { files: chunk, images, start, address });
      results.forEach(({ fields, text }, i) => {
        io.stdout.write(
          options.json
            ? `${JSON.stringify({ file: chunk[i], model: response.modelName, version: response.version, ...fields })}\n`
            : text,
        );
      });
    }
    return 0;
  });
}

/**
 * A subcommand that sends image files: `<files...>`, --model and --version, then the flags that
 * `own` adds, then --addr, --batch and --timeout-ms (the ImageBatchOptions).
 */
export function imageCommand(name: string, description: string, own: (command: Command) => Command): Command {
  const command = new Command(name)
    .description(description)
    .argument('<files...>', 'image files')
    .requiredOption('--model <name>', 'model name (see rnas models)')
    .option('--version <n>', 'model version (default: the serving version)', positiveInt);
  return own(command)
    .addOption(addressOption('inference'))
    .option('--batch <n>', `images sent per request (default ${DEFAULT_BATCH})`, positiveInt)
    .option('--timeout-ms <ms>', `deadline of each call (default ${DEFAULT_TIMEOUT_MS})`, positiveInt);
}
