// `rnas detect --model NAME FILE...`: sends image files to an inference service's Detect and
// prints the objects found in each (or one JSON object per file with --json); with --draw DIR also
// writes each image with its boxes drawn to DIR/<name>.png.
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { DetectRequest, DetectResponse, Detection, ImageDetections } from '@rnas/proto';
import { decimal, positiveInt } from '../args';
import { processIo, type CliIo } from '../io';
import {
  imageCommand,
  sendImageBatches,
  type FileResult,
  type ImageBatchOptions,
  type InferenceClient,
} from './image-batches';
import { drawDetections } from './draw-detections';
import { DRAW, outputPaths, prepareOutputDir } from './out-files';

/** What DetectRequest allows. */
const MAX_DETECTIONS = 200;

export interface DetectCommandOptions extends ImageBatchOptions {
  model: string;
  version?: number;
  /** Lowest score printed, in [0, 1] (the service's default 0.3). */
  threshold?: number;
  maxDetections?: number;
  /** Only these labels. */
  classes?: string[];
  /** Folder the drawn images go to. */
  draw?: string;
  json?: boolean;
}

const box = (d: Detection): [number, number, number, number] => {
  const b = d.box ?? { xMin: 0, yMin: 0, xMax: 0, yMax: 0 };
  return [b.xMin, b.yMin, b.xMax, b.yMax];
};

/** `a.jpg: 2 objects` and one line per object: `  label 0.93 [x1, y1, x2, y2]`. */
export function formatDetections(file: string, image: ImageDetections, drawn?: string): string {
  const n = image.detections.length;
  const lines = [`${file}: ${n} object${n === 1 ? '' : 's'}`];
  for (const d of image.detections) {
    lines.push(
      `  ${d.label} ${d.score.toFixed(2)} [${box(d)
        .map((v) => v.toFixed(1))
        .join(', ')}]`,
    );
  }
  if (drawn !== undefined) lines.push(`  drawn: ${drawn}`);
  return `${lines.join('\n')}\n`;
}

/** Where each file is drawn, DIR/<name without extension>.png (see outputPaths). */
export function drawPaths(files: readonly string[], dir: string): string[] {
  return outputPaths(files, dir, DRAW);
}

export async function runDetectCommand(
  files: readonly string[],
  options: DetectCommandOptions,
  io: CliIo,
): Promise<number> {
  const drawn = options.draw === undefined ? undefined : drawPaths(files, options.draw);
  if (options.draw !== undefined) await prepareOutputDir(options.draw, '--draw');
  const send = (client: InferenceClient, images: Buffer[]): Promise<DetectResponse> => {
    const request: DetectRequest = {
      modelName: options.model,
      version: options.version,
      input: { $case: 'images', value: { images } },
      scoreThreshold: options.threshold,
      maxDetections: options.maxDetections,
      classes: options.classes ?? [],
    };
    return client.detect(request);
  };
  return sendImageBatches(
    'detect',
    files,
    options,
    io,
    send,
    async (response, { files: chunk, images, start, address }) => {
      if (response.images.length !== chunk.length)
        throw new Error(
          `detect at ${address}: ${response.images.length} results for ${chunk.length} images (expected one per image)`,
        );
      const results: FileResult[] = [];
      for (const [i, image] of response.images.entries()) {
        const out = drawn?.[start + i];
        if (out !== undefined) {
          const png = await drawDetections(images[i], image.detections, image).catch((error: unknown) => {
            throw new Error(`drawing ${chunk[i]}: ${(error as Error).message}`);
          });
          await writeFile(out, png);
        }
        const detections = image.detections.map((d) => ({
          classIndex: d.classIndex,
          label: d.label,
          score: d.score,
          box: box(d),
        }));
        results.push({
          fields: {
            width: image.width,
            height: image.height,
            detections,
            ...(out === undefined ? {} : { drawn: out }),
          },
          text: formatDetections(chunk[i], image, out),
        });
      }
      return results;
    },
  );
}

function scoreThreshold(value: string): number {
  const v = decimal(value);
  if (v < 0 || v > 1) throw new InvalidArgumentError(`expected a number in [0, 1], got "${value}"`);
  return v;
}

function maxDetections(value: string): number {
  const v = positiveInt(value);
  if (v > MAX_DETECTIONS)
    throw new InvalidArgumentError(`expected an integer in [1, ${MAX_DETECTIONS}], got "${value}"`);
  return v;
}

function classList(value: string): string[] {
  const labels = value.split(',').map((s) => s.trim());
  if (labels.some((s) => s === ''))
    throw new InvalidArgumentError(`expected labels separated by commas, got "${value}"`);
  return labels;
}

/** The `detect` subcommand, ready to add to the program. */
export function detectCommand(io: CliIo = processIo): Command {
  return imageCommand(
    'detect',
    'find objects in JPEG, PNG or WebP files with a detection model of an inference service',
    (c) =>
      c
        .option('--threshold <score>', 'lowest score shown, in [0, 1] (default 0.3)', scoreThreshold)
        .option(
          '--max-detections <n>',
          `most objects per image, up to ${MAX_DETECTIONS} (default 100)`,
          maxDetections,
        )
        .option('--classes <labels>', 'only these labels, separated by commas (default: all)', classList)
        .option('--draw <dir>', 'also write each image with its boxes drawn to DIR/<name>.png')
        .option('--json', 'one JSON object per file: file, model, version, width, height, detections'),
  ).action(async (files: string[], options: DetectCommandOptions) => {
    process.exitCode = await runDetectCommand(files, options, io);
  });
}
