// `rnas pose --model NAME FILE...`: sends image files (and person boxes, or none: each image one
// person) to an inference service's EstimatePose and prints each person's keypoints (or one JSON
// object per file with --json); with --draw DIR also writes each image with the skeletons drawn.
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import sharp from 'sharp';
import type { EstimatePoseRequest, EstimatePoseResponse, ImagePoses, PersonPose } from '@rnas/proto';
import { processIo, type CliIo } from '../io';
import {
  imageCommand,
  sendImageBatches,
  type FileResult,
  type ImageBatchOptions,
  type InferenceClient,
} from './image-batches';
import { drawPoses } from './draw-pose';
import { DRAW, outputPaths, prepareOutputDir } from './out-files';
import { boxList, checkBoxesInside, readBoxesFile, toBoundingBox, type Box } from './person-boxes';

export interface PoseCommandOptions extends ImageBatchOptions {
  model: string;
  version?: number;
  /** The same person boxes in every image. */
  boxes?: Box[];
  /** A JSON file of boxes per image. */
  boxesFile?: string;
  /** Folder the drawn images go to. */
  draw?: string;
  json?: boolean;
}

const box = (p: PersonPose): Box => {
  const b = p.box ?? { xMin: 0, yMin: 0, xMax: 0, yMax: 0 };
  return [b.xMin, b.yMin, b.xMax, b.yMax];
};

/**
 * `a.jpg: 1 person`, per person `  person 1 [x0, y0, x1, y1] score 0.81` and one line per keypoint:
 * `    left_wrist 12.0 30.5 0.91`.
 */
export function formatPoses(file: string, image: ImagePoses, drawn?: string): string {
  const n = image.people.length;
  const lines = [`${file}: ${n} ${n === 1 ? 'person' : 'people'}`];
  image.people.forEach((person, p) => {
    lines.push(
      `  person ${p + 1} [${box(person)
        .map((v) => v.toFixed(1))
        .join(', ')}] score ${person.score.toFixed(2)}`,
    );
    for (const k of person.keypoints)
      lines.push(`    ${k.name.slice(0, 64)} ${k.x.toFixed(1)} ${k.y.toFixed(1)} ${k.score.toFixed(2)}`);
  });
  if (drawn !== undefined) lines.push(`  drawn: ${drawn}`);
  return `${lines.join('\n')}\n`;
}

/** Each file's boxes (undefined: none given, the service takes each image as one person). */
async function personBoxes(
  files: readonly string[],
  options: PoseCommandOptions,
): Promise<{ boxes: Box[][]; source: string } | undefined> {
  if (options.boxes !== undefined && options.boxesFile !== undefined)
    throw new Error('give at most one of --boxes and --boxes-file');
  if (options.boxes !== undefined) {
    const value = options.boxes.map((b) => b.join(',')).join(';');
    return { boxes: files.map(() => options.boxes as Box[]), source: `--boxes ${value}` };
  }
  if (options.boxesFile !== undefined)
    return {
      boxes: await readBoxesFile(options.boxesFile, files),
      source: `--boxes-file ${options.boxesFile}`,
    };
  return undefined;
}

export async function runPoseCommand(
  files: readonly string[],
  options: PoseCommandOptions,
  io: CliIo,
): Promise<number> {
  const given = await personBoxes(files, options);
  const drawn = options.draw === undefined ? undefined : outputPaths(files, options.draw, DRAW);
  if (options.draw !== undefined) await prepareOutputDir(options.draw, DRAW.flag);
  const send = async (
    client: InferenceClient,
    images: Buffer[],
    { start }: { start: number },
  ): Promise<EstimatePoseResponse> => {
    const boxes = given?.boxes.slice(start, start + images.length);
    if (given !== undefined && boxes !== undefined) {
      // The service refuses such a box too; checked here, the message names the flag.
      for (const [i, image] of images.entries()) {
        if (boxes[i].length === 0) continue;
        const file = files[start + i];
        const { width, height } = await sharp(image)
          .metadata()
          .catch(() => ({ width: undefined, height: undefined }));
        // An undecodable image is left to the service, whose refusal names the file.
        if (width !== undefined && height !== undefined)
          checkBoxesInside(boxes[i], { file, width, height }, given.source);
      }
    }
    const request: EstimatePoseRequest = {
      modelName: options.model,
      version: options.version,
      images: { images },
      boxes: boxes === undefined ? [] : boxes.map((list) => ({ boxes: list.map(toBoundingBox) })),
    };
    return client.estimatePose(request);
  };
  return sendImageBatches(
    'pose',
    files,
    options,
    io,
    send,
    async (response, { files: chunk, images, start, address }) => {
      if (response.images.length !== chunk.length)
        throw new Error(
          `pose at ${address}: ${response.images.length} results for ${chunk.length} images (expected one per image)`,
        );
      const results: FileResult[] = [];
      for (const [i, image] of response.images.entries()) {
        const out = drawn?.[start + i];
        if (out !== undefined) {
          const png = await drawPoses(images[i], image.people, response.skeleton, image).catch(
            (error: unknown) => {
              throw new Error(`drawing ${chunk[i]}: ${(error as Error).message}`);
            },
          );
          await writeFile(out, png);
        }
        results.push({
          fields: {
            width: image.width,
            height: image.height,
            people: image.people.map((person) => ({
              box: box(person),
              score: person.score,
              keypoints: person.keypoints.map((k) => ({ name: k.name, x: k.x, y: k.y, score: k.score })),
            })),
            ...(out === undefined ? {} : { drawn: out }),
          },
          text: formatPoses(chunk[i], image, out),
        });
      }
      return results;
    },
  );
}

/** The `pose` subcommand, ready to add to the program. */
export function poseCommand(io: CliIo = processIo): Command {
  return imageCommand(
    'pose',
    "estimate people's keypoints in JPEG, PNG or WebP files with a keypoint model of an inference service",
    (c) =>
      c
        .option(
          '--boxes <boxes>',
          "person boxes x0,y0,x1,y1 in pixels, separated by ';', the same in every image (default: each image is one person)",
          boxList,
        )
        .option(
          '--boxes-file <file>',
          'person boxes per image: JSON {"a.jpg": [[x0, y0, x1, y1], ...], ...}; images not in it are one person each',
        )
        .option('--draw <dir>', 'also write each image with its skeletons drawn to DIR/<name>.png')
        .option('--json', 'one JSON object per file: file, model, version, width, height, people'),
  ).action(async (files: string[], options: PoseCommandOptions) => {
    process.exitCode = await runPoseCommand(files, options, io);
  });
}
