// `rnas synth`: writes a synthetic dataset in a real on-disk format and prints the URI that opens
// it (the last line of stdout). Classification: the shapes of @rnas/data in IDX, CIFAR or an image
// folder; detection: several shapes per image as Pascal VOC or COCO; segmentation: the same
// shapes with palette label maps in VOC's segmentation layout; keypoints: stick figures as COCO
// person keypoints.
import * as path from 'node:path';
import { Command, Option } from 'commander';
import {
  writeDetectionShapes,
  writeKeypointFigures,
  writeSegmentationShapes,
  writeSyntheticDataset,
  type SyntheticFormat,
} from '@rnas/data';
import { integer, positiveInt } from '../args';
import { processIo, type CliIo } from '../io';

const CLASSIFICATION_FORMATS: readonly SyntheticFormat[] = [
  'idx',
  'idx-raw',
  'cifar10',
  'cifar100',
  'imagefolder',
];
const DETECTION_FORMATS = ['voc', 'coco'] as const;
/** The one format of each dense task; --format may name it. */
const DENSE_FORMATS = { segmentation: 'voc-seg', keypoints: 'coco-keypoints' } as const;
export const SYNTH_TASKS = ['classification', 'detection', 'segmentation', 'keypoints'] as const;

export interface SynthCommandOptions {
  out: string;
  task: (typeof SYNTH_TASKS)[number];
  format?: string;
  train: number;
  test: number;
  seed: number;
  size?: number;
  classes?: number;
  maxObjects?: number;
}

function refuse(flag: string, value: unknown, expected: string): Error {
  return new Error(`${flag}: expected ${expected}, got ${JSON.stringify(value)}`);
}

/** Writes the dataset; returns the lines to print, the URI last. */
export async function runSynth(options: SynthCommandOptions): Promise<string[]> {
  const dir = path.resolve(options.out);
  const { train, test, seed } = options;
  if (options.task === 'segmentation' || options.task === 'keypoints') {
    const task = options.task;
    const format = options.format ?? DENSE_FORMATS[task];
    if (format !== DENSE_FORMATS[task])
      throw refuse('--format', format, `${DENSE_FORMATS[task]} (the only one) for --task ${task}`);
    // The classes are fixed: background and three shapes, or the figures' keypoints.
    if (options.classes !== undefined)
      throw refuse('--classes', options.classes, `no value with --task ${task} (its classes are fixed)`);
    const size = options.size ?? 128;
    if (task === 'segmentation') {
      const { uri } = await writeSegmentationShapes(dir, {
        train,
        test,
        seed,
        size,
        maxObjects: options.maxObjects,
      });
      return [
        `wrote ${train} training and ${test} test images of ${size}x${size} with label maps (voc-seg) to ${dir}`,
        uri,
      ];
    }
    const { uri } = await writeKeypointFigures(dir, {
      train,
      test,
      seed,
      size,
      maxFigures: options.maxObjects,
    });
    return [
      `wrote ${train} training and ${test} test images of ${size}x${size} with stick figures (coco-keypoints) to ${dir}`,
      uri,
    ];
  }
  if (options.task === 'detection') {
    const format = options.format ?? 'voc';
    if (!(DETECTION_FORMATS as readonly string[]).includes(format)) {
      throw refuse('--format', format, `one of ${DETECTION_FORMATS.join(', ')} for --task detection`);
    }
    const size = options.size ?? 128;
    const { uri } = await writeDetectionShapes(dir, {
      format: format as 'voc' | 'coco',
      train,
      test,
      seed,
      size,
      classes: options.classes,
      maxObjects: options.maxObjects,
    });
    return [
      `wrote ${train} training and ${test} test images of ${size}x${size} with boxes (${format}) to ${dir}`,
      uri,
    ];
  }
  const format = options.format ?? 'imagefolder';
  if (!(CLASSIFICATION_FORMATS as readonly string[]).includes(format)) {
    throw refuse('--format', format, `one of ${CLASSIFICATION_FORMATS.join(', ')} for --task classification`);
  }
  if (options.maxObjects !== undefined)
    throw refuse('--max-objects', options.maxObjects, 'no value with --task classification');
  if (format !== 'imagefolder') {
    // IDX and CIFAR fix the image size and classes; a flag that would be ignored is an error.
    for (const [flag, value] of [
      ['--size', options.size],
      ['--classes', options.classes],
    ] as const) {
      if (value !== undefined)
        throw refuse(flag, value, `no value with --format ${format} (its size and classes are fixed)`);
    }
  }
  const size = options.size ?? 32;
  const data = await writeSyntheticDataset(dir, {
    format: format as SyntheticFormat,
    train,
    test,
    seed,
    ...(format === 'imagefolder' ? { size, classes: options.classes ?? 10, channels: 3 as const } : {}),
  });
  const uri =
    format === 'imagefolder'
      ? `imagefolder:${dir}?size=${size}&channels=3`
      : `${format.startsWith('idx') ? 'mnist' : format}:${dir}`;
  return [
    `wrote ${train} training and ${test} test images in ${data.classNames.length} classes (${format}) to ${dir}`,
    uri,
  ];
}

export function synthCommand(io: CliIo = processIo): Command {
  return new Command('synth')
    .description('write a synthetic dataset in a real file format; prints its dataset URI (last line)')
    .requiredOption('--out <dir>', 'directory to write into')
    .addOption(
      new Option('--task <task>', 'what the labels are for')
        .choices([...SYNTH_TASKS])
        .default('classification'),
    )
    .option(
      '--format <format>',
      'classification: idx, idx-raw, cifar10, cifar100, imagefolder (default); detection: voc (default), coco; ' +
        'segmentation: voc-seg; keypoints: coco-keypoints',
    )
    .option('--train <n>', 'training images (default 200)', positiveInt, 200)
    .option('--test <n>', 'test images (default 50)', positiveInt, 50)
    .option('--seed <n>', 'seed (default 0)', integer, 0)
    .option(
      '--size <px>',
      'image side (image folders: 32, detection, segmentation, keypoints: 128)',
      positiveInt,
    )
    .option(
      '--classes <k>',
      'number of classes (image folders: 10, detection: 3 of circle, square, triangle, diamond, cross, ring; ' +
        'segmentation is background, circle, square, triangle)',
      positiveInt,
    )
    .option(
      '--max-objects <n>',
      'detection: at most this many objects per image (default 4); segmentation: shapes (default 3); ' +
        'keypoints: stick figures (default 2)',
      positiveInt,
    )
    .action(async (options: SynthCommandOptions) => {
      for (const line of await runSynth(options)) io.stdout.write(`${line}\n`);
    });
}
