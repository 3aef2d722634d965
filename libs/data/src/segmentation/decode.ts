import sharp from 'sharp';
import { checkInt } from '../errors';
import { decodeDetectionImage, DEFAULT_MAX_DETECTION_PIXELS } from '../detection/decode';
import { AnnotationError } from '../detection/types';
import { labelsFromColours, vocPalette } from './png';
import {
  CITYSCAPES_TRAIN_IDS,
  SEGMENTATION_IGNORE,
  type SegmentationDataset,
  type SegmentationImage,
  type SegmentationSample,
} from './types';

const PALETTE = vocPalette();

function where(image: SegmentationImage, p: number, width: number): string {
  return `(image ${JSON.stringify(image.id)}) pixel x=${p % width}, y=${Math.floor(p / width)}`;
}

/** The label map's raw bytes (RGB for VOC's palette PNGs, one channel for Cityscapes' label ids). */
async function readMask(
  image: SegmentationImage,
  channels: 1 | 3,
  maxPixels: number,
): Promise<{ data: Uint8Array; width: number; height: number }> {
  const unreadable = (err: unknown): never => {
    throw new AnnotationError(
      image.maskFile,
      undefined,
      'a decodable PNG label map',
      `sharp error "${(err as Error).message}"`,
    );
  };
  const pipeline = sharp(image.maskFile, { limitInputPixels: maxPixels, failOn: 'warning' });
  if (channels === 1) {
    // sharp would expand grey to sRGB: label ids must be one 8-bit grey channel as stored.
    const meta = await pipeline.metadata().catch(unreadable);
    if (meta.channels !== 1 || meta.depth !== 'uchar') {
      throw new AnnotationError(
        image.maskFile,
        undefined,
        'an 8-bit greyscale label-id PNG',
        `${meta.channels} channels of ${meta.depth}`,
      );
    }
  }
  const { data, info } = await (
    channels === 1 ? pipeline.toColourspace('b-w') : pipeline.removeAlpha().toColourspace('srgb')
  )
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch(unreadable);
  if (info.width !== image.width || info.height !== image.height) {
    throw new AnnotationError(
      image.maskFile,
      `(image ${JSON.stringify(image.id)})`,
      `the ${image.width}x${image.height} (width x height) of its image ${image.file}`,
      `${info.width}x${info.height}`,
    );
  }
  if (info.channels !== channels || data.length !== info.width * info.height * channels) {
    throw new AnnotationError(
      image.maskFile,
      undefined,
      `${channels} bytes per pixel`,
      `${info.channels} channels, ${data.length} bytes`,
    );
  }
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}

/** VOC: class indices from the palette's colours, each a class of the dataset or 255. */
function vocLabels(image: SegmentationImage, rgb: Uint8Array, width: number, classes: number): Uint8Array {
  const { labels, badPixel } = labelsFromColours(rgb, PALETTE);
  const colour = (p: number): string => `rgb(${rgb[3 * p]}, ${rgb[3 * p + 1]}, ${rgb[3 * p + 2]})`;
  if (badPixel !== undefined) {
    throw new AnnotationError(
      image.maskFile,
      where(image, badPixel, width),
      "a colour of VOC's palette",
      colour(badPixel),
    );
  }
  for (let p = 0; p < labels.length; p++) {
    const v = labels[p];
    if (v >= classes && v !== SEGMENTATION_IGNORE) {
      throw new AnnotationError(
        image.maskFile,
        where(image, p, width),
        `a class index in [0, ${classes}) or ${SEGMENTATION_IGNORE} (ignore)`,
        `${v} (colour ${colour(p)})`,
      );
    }
  }
  return labels;
}

/** Cityscapes: label ids 0..33 to train ids (255 for the classes not trained on). */
function cityscapesLabels(image: SegmentationImage, ids: Uint8Array, width: number): Uint8Array {
  const labels = new Uint8Array(ids.length);
  for (let p = 0; p < ids.length; p++) {
    const v = ids[p];
    if (v >= CITYSCAPES_TRAIN_IDS.length) {
      throw new AnnotationError(
        image.maskFile,
        where(image, p, width),
        `a Cityscapes label id in [0, ${CITYSCAPES_TRAIN_IDS.length - 1}]`,
        String(v),
      );
    }
    labels[p] = CITYSCAPES_TRAIN_IDS[v];
  }
  return labels;
}

/**
 * Decodes one image of a segmentation dataset (RGB, as detection decodes its images, with the
 * same pixel cap) and its label map to one class index or 255 per pixel. Errors name the file:
 * an unreadable or truncated file, a label map whose size differs from its image's, a colour not
 * in VOC's palette or a class outside the dataset's (with the pixel), a Cityscapes label id above 33.
 */
export async function decodeSegmentationSample(
  image: SegmentationImage,
  dataset: Pick<SegmentationDataset, 'format' | 'classNames'>,
  maxPixels: number = DEFAULT_MAX_DETECTION_PIXELS,
): Promise<SegmentationSample> {
  checkInt('maxPixels', maxPixels, 1, Number.MAX_SAFE_INTEGER);
  const { pixels, width, height } = await decodeDetectionImage(image, maxPixels);
  if (dataset.format === 'cityscapes') {
    const { data } = await readMask(image, 1, maxPixels);
    return { pixels, mask: cityscapesLabels(image, data, width), width, height };
  }
  const { data } = await readMask(image, 3, maxPixels);
  return { pixels, mask: vocLabels(image, data, width, dataset.classNames.length), width, height };
}
