import sharp from 'sharp';
import { checkInt } from '../errors';
import { AnnotationError, type DetectionImage } from './types';

/** libvips refuses larger inputs before decoding them, as for image folders. */
export const DEFAULT_MAX_DETECTION_PIXELS = 64 * 1024 * 1024;

/**
 * Decodes an image of a detection dataset to RGB bytes (HWC): turned upright by its EXIF
 * orientation, alpha dropped, greyscale expanded to RGB. A size other than the annotation's is an
 * error naming the file: the boxes would not fit it.
 */
export async function decodeDetectionImage(
  image: Pick<DetectionImage, 'id' | 'file' | 'width' | 'height'>,
  maxPixels: number = DEFAULT_MAX_DETECTION_PIXELS,
): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  checkInt('maxPixels', maxPixels, 1, Number.MAX_SAFE_INTEGER);
  const { data, info } = await sharp(image.file, { limitInputPixels: maxPixels, failOn: 'warning' })
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch((err: unknown) => {
      throw new AnnotationError(
        image.file,
        undefined,
        'a decodable image',
        `sharp error "${(err as Error).message}"`,
      );
    });
  if (info.width !== image.width || info.height !== image.height) {
    throw new AnnotationError(
      image.file,
      `(image ${JSON.stringify(image.id)})`,
      `the ${image.width}x${image.height} (width x height) its annotation gives`,
      `${info.width}x${info.height}`,
    );
  }
  if (info.channels !== 3) {
    throw new AnnotationError(image.file, undefined, 'an image decoded to 3 channels', String(info.channels));
  }
  return {
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}
