// `rnas segment --model NAME FILE...`: sends image files to an inference service's Segment and
// prints the classes of each with their share of the pixels (or one JSON object per file with
// --json); --overlay DIR writes each image with its label map blended in colour, --raw DIR the
// label map itself (the palette PNG the service returned: pixel values are class indices).
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import {
  LabelMapEncoding,
  type ImageSegmentation,
  type SegmentRequest,
  type SegmentResponse,
} from '@rnas/proto';
import { decimal } from '../args';
import { processIo, type CliIo } from '../io';
import {
  imageCommand,
  sendImageBatches,
  type FileResult,
  type ImageBatchOptions,
  type InferenceClient,
} from './image-batches';
import { outputPaths, prepareOutputDir, type OutputFlag } from './out-files';
import { overlayLabelMap } from './segment-overlay';

const DEFAULT_ALPHA = 0.5;

const OVERLAY: OutputFlag = { flag: '--overlay', gerund: 'the overlay of', past: 'written' };
const RAW: OutputFlag = { flag: '--raw', gerund: 'the label map of', past: 'written' };

export interface SegmentCommandOptions extends ImageBatchOptions {
  model: string;
  version?: number;
  /** Folder the overlays go to. */
  overlay?: string;
  /** Folder the label maps go to. */
  raw?: string;
  /** Opacity of the class colours in an overlay, in [0, 1]. */
  alpha?: number;
  json?: boolean;
}

/** A class's share of the image's pixels, `12.5%`. */
function share(pixels: number, image: ImageSegmentation): string {
  const total = image.width * image.height;
  return total > 0 ? `${((100 * pixels) / total).toFixed(1)}%` : '-';
}

/** `a.jpg: 64x48, 2 classes` and one line per class: `  circle 25.0% (768 px)`. */
export function formatSegmentation(
  file: string,
  image: ImageSegmentation,
  written: { overlay?: string; raw?: string } = {},
): string {
  const n = image.classes.length;
  const lines = [`${file}: ${image.width}x${image.height}, ${n} class${n === 1 ? '' : 'es'}`];
  for (const c of image.classes) lines.push(`  ${c.label} ${share(c.pixels, image)} (${c.pixels} px)`);
  if (written.overlay !== undefined) lines.push(`  overlay: ${written.overlay}`);
  if (written.raw !== undefined) lines.push(`  label map: ${written.raw}`);
  return `${lines.join('\n')}\n`;
}

export async function runSegmentCommand(
  files: readonly string[],
  options: SegmentCommandOptions,
  io: CliIo,
): Promise<number> {
  if (
    options.overlay !== undefined &&
    options.raw !== undefined &&
    path.resolve(options.overlay) === path.resolve(options.raw)
  )
    throw new Error(
      `--overlay ${options.overlay} and --raw ${options.raw}: both write <name>.png there; give two folders`,
    );
  if (options.alpha !== undefined && options.overlay === undefined)
    throw new Error(`--alpha ${options.alpha}: only with --overlay (it is the overlay's opacity)`);
  const overlays = options.overlay === undefined ? undefined : outputPaths(files, options.overlay, OVERLAY);
  const raws = options.raw === undefined ? undefined : outputPaths(files, options.raw, RAW);
  if (options.overlay !== undefined) await prepareOutputDir(options.overlay, OVERLAY.flag);
  if (options.raw !== undefined) await prepareOutputDir(options.raw, RAW.flag);
  const send = (client: InferenceClient, images: Buffer[]): Promise<SegmentResponse> => {
    const request: SegmentRequest = {
      modelName: options.model,
      version: options.version,
      input: { $case: 'images', value: { images } },
      encoding: LabelMapEncoding.LABEL_MAP_ENCODING_PNG,
    };
    return client.segment(request);
  };
  return sendImageBatches(
    'segment',
    files,
    options,
    io,
    send,
    async (response, { files: chunk, images, start, address }) => {
      if (response.images.length !== chunk.length)
        throw new Error(
          `segment at ${address}: ${response.images.length} results for ${chunk.length} images (expected one per image)`,
        );
      const results: FileResult[] = [];
      for (const [i, image] of response.images.entries()) {
        const overlay = overlays?.[start + i];
        const raw = raws?.[start + i];
        if (overlay !== undefined) {
          const png = await overlayLabelMap(images[i], image.labelMap, options.alpha ?? DEFAULT_ALPHA).catch(
            (error: unknown) => {
              throw new Error(`overlaying ${chunk[i]}: ${(error as Error).message}`);
            },
          );
          await writeFile(overlay, png);
        }
        if (raw !== undefined) await writeFile(raw, image.labelMap);
        const total = image.width * image.height;
        results.push({
          fields: {
            width: image.width,
            height: image.height,
            classes: image.classes.map((c) => ({
              classIndex: c.classIndex,
              label: c.label,
              pixels: c.pixels,
              share: total > 0 ? c.pixels / total : 0,
            })),
            ...(overlay === undefined ? {} : { overlay }),
            ...(raw === undefined ? {} : { labelMap: raw }),
          },
          text: formatSegmentation(chunk[i], image, { overlay, raw }),
        });
      }
      return results;
    },
  );
}

function alpha(value: string): number {
  const v = decimal(value);
  if (v < 0 || v > 1) throw new InvalidArgumentError(`expected a number in [0, 1], got "${value}"`);
  return v;
}

/** The `segment` subcommand, ready to add to the program. */
export function segmentCommand(io: CliIo = processIo): Command {
  return imageCommand(
    'segment',
    'label every pixel of JPEG, PNG or WebP files with a segmentation model of an inference service',
    (c) =>
      c
        .option(
          '--overlay <dir>',
          'also write each image with its classes blended in colour to DIR/<name>.png',
        )
        .option(
          '--raw <dir>',
          'also write each label map (a palette PNG whose pixel values are class indices) to DIR/<name>.png',
        )
        .option(
          '--alpha <x>',
          `opacity of the class colours in an overlay, in [0, 1] (default ${DEFAULT_ALPHA})`,
          alpha,
        )
        .option('--json', 'one JSON object per file: file, model, version, width, height, classes'),
  ).action(async (files: string[], options: SegmentCommandOptions) => {
    process.exitCode = await runSegmentCommand(files, options, io);
  });
}
