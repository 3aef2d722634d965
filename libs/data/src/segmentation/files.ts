// What the VOC and Cityscapes readers share: a listed image and its label map checked to be
// regular files under the data roots, within the size limit, readable by their headers and of
// the same size. Pixels are not decoded here (decode.ts does, per sample).
import { promises as fs } from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import type { LoadContext } from '../files';
import { checkImageFile } from '../detection/files';
import { AnnotationError } from '../detection/types';
import type { SegmentationImage } from './types';

/** A file's size against the dataset's limit: RESOURCE_EXHAUSTED naming the file. */
async function checkFileBytes(ctx: LoadContext, file: string): Promise<void> {
  const { size } = await fs.stat(file);
  if (size > ctx.maxFileBytes) {
    throw new AnnotationError(
      file,
      undefined,
      `at most ${ctx.maxFileBytes} bytes (the limit a dataset file may have)`,
      `${size} bytes`,
      'RESOURCE_EXHAUSTED',
    );
  }
}

async function header(file: string): Promise<Metadata> {
  try {
    return await sharp(file).metadata();
  } catch (err) {
    throw new AnnotationError(file, undefined, 'an image file', `sharp error "${(err as Error).message}"`);
  }
}

/**
 * An image and its label map as the split lists them: both found (NOT_FOUND naming where they
 * were listed when not), at most `maxFileBytes` each, the label map a PNG (a lossy format would
 * blur the labels) of the image's size (upright, as decoding turns it).
 */
export async function segmentationImage(
  ctx: LoadContext,
  id: string,
  files: { image: string; mask: string },
  listedAt: { file: string; location: string },
): Promise<SegmentationImage> {
  const file = await checkImageFile(ctx, files.image, listedAt);
  const maskFile = await checkImageFile(ctx, files.mask, listedAt);
  await checkFileBytes(ctx, file);
  await checkFileBytes(ctx, maskFile);
  const image = await header(file);
  const mask = await header(maskFile);
  const width = image.autoOrient?.width ?? image.width;
  const height = image.autoOrient?.height ?? image.height;
  if (mask.format !== 'png') {
    throw new AnnotationError(
      maskFile,
      `(image ${JSON.stringify(id)})`,
      'a PNG label map',
      String(mask.format),
    );
  }
  if (mask.width !== width || mask.height !== height) {
    throw new AnnotationError(
      maskFile,
      `(image ${JSON.stringify(id)})`,
      `the ${width}x${height} (width x height) of its image ${file}`,
      `${mask.width}x${mask.height}`,
    );
  }
  return { id, file, maskFile, width, height };
}
