// `rnas classify --model NAME FILE...`: sends image files to an inference service and prints the
// best classes of each, one line per file (or one JSON object per line with --json).
import { Command, InvalidArgumentError } from 'commander';
import type { ClassifyRequest, ClassifyResponse, Classification } from '@rnas/proto';
import { processIo, type CliIo } from '../io';
import {
  imageCommand,
  sendImageBatches,
  type ImageBatchOptions,
  type InferenceClient,
} from './image-batches';

export interface ClassifyCommandOptions extends ImageBatchOptions {
  model: string;
  version?: number;
  topK?: number;
  json?: boolean;
}

function formatLine(file: string, classification: Classification): string {
  const scores = classification.scores.map((s) => `${s.label} ${s.score.toFixed(4)}`).join('  ');
  return `${file}\t${scores}\n`;
}

export function runClassifyCommand(
  files: readonly string[],
  options: ClassifyCommandOptions,
  io: CliIo,
): Promise<number> {
  const send = (client: InferenceClient, images: Buffer[]): Promise<ClassifyResponse> => {
    const request: ClassifyRequest = {
      modelName: options.model,
      version: options.version,
      topK: options.topK ?? 0,
      input: { $case: 'images', value: { images } },
    };
    return client.classify(request);
  };
  return sendImageBatches('classify', files, options, io, send, (response, { files: chunk }) =>
    response.classifications.map((classification, i) => ({
      fields: { scores: classification.scores },
      text: formatLine(chunk[i], classification),
    })),
  );
}

function nonNegativeInt(value: string): number {
  if (!/^\s*\d{1,10}\s*$/.test(value))
    throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return Number(value);
}

/** The `classify` subcommand, ready to add to the program. */
export function classifyCommand(io: CliIo = processIo): Command {
  return imageCommand(
    'classify',
    'classify JPEG, PNG or WebP files with a model of an inference service',
    (c) =>
      c
        .option('--top-k <k>', 'classes printed per image; 0 means 5 (default 0)', nonNegativeInt)
        .option('--json', 'one JSON object per file: file, model, version, scores'),
  ).action(async (files: string[], options: ClassifyCommandOptions) => {
    process.exitCode = await runClassifyCommand(files, options, io);
  });
}
