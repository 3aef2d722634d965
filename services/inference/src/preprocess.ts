import sharp from 'sharp';
import { InvalidArgumentError } from '@rnas/grpc';

/** Height, width and channels (1 grayscale, 3 RGB) of a model's input, NHWC. */
export interface InputShape {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/**
 * How an image becomes the input size: `cover` scales and centre-crops (classification's
 * training data); `fill` stretches the whole image, aspect not kept (detection, as the
 * reference's cv2.resize: every box stays inside the input).
 */
export type ImageFit = 'cover' | 'fill';

/** The encodings Classify accepts, by their leading bytes (sharp would take more: GIF, TIFF, SVG, ...). */
const ACCEPTED: readonly { format: string; matches(b: Uint8Array): boolean }[] = [
  { format: 'jpeg', matches: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { format: 'png', matches: (b) => startsWith(b, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { format: 'webp', matches: (b) => startsWith(b, 0, ascii('RIFF')) && startsWith(b, 8, ascii('WEBP')) },
];

/** Formats a client may send by mistake, named in the refusal. */
const REFUSED: readonly { format: string; matches(b: Uint8Array): boolean }[] = [
  { format: 'gif', matches: (b) => startsWith(b, 0, ascii('GIF8')) },
  { format: 'tiff', matches: (b) => startsWith(b, 0, ascii('II*\0')) || startsWith(b, 0, ascii('MM\0*')) },
  { format: 'bmp', matches: (b) => startsWith(b, 0, ascii('BM')) },
  { format: 'heif/avif', matches: (b) => startsWith(b, 4, ascii('ftyp')) },
];

function ascii(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

function startsWith(bytes: Uint8Array, offset: number, prefix: readonly number[]): boolean {
  return bytes.length >= offset + prefix.length && prefix.every((v, i) => bytes[offset + i] === v);
}

/**
 * Decodes one encoded image to the model's input pixels (HWC, 8 bits per channel) the way the
 * training data is decoded: scaled to cover the input and centre-cropped, alpha composited on
 * black, converted to the model's channel count. The format is told by its signature, and libvips
 * reads the dimensions from the header and refuses an image over `maxPixels` before decoding any
 * pixel (a decompression bomb costs nothing). One libvips pipeline per image: decoding runs on
 * libuv's pool and its latency is on every request's path. `field` names the image in errors.
 */
export async function decodeImage(
  bytes: Uint8Array,
  field: string,
  shape: InputShape,
  maxPixels: number,
  fit: ImageFit = 'cover',
): Promise<Uint8Array> {
  checkEncoding(bytes, field);
  const { height, width, channels } = shape;
  const image = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning' });
  // Detection turns the image upright by its EXIF orientation, as its training data is decoded
  // (boxes refer to the upright image); classification keeps its decoding as it always was.
  const data = await (fit === 'fill' ? image.rotate() : image)
    .resize(width, height, { fit })
    .flatten({ background: '#000000' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer()
    .catch(async (error: unknown) => {
      throw await decodeError(bytes, field, maxPixels, error);
    });
  const size = height * width * channels;
  if (data.length !== size) {
    // sharp keeps an extra band it cannot flatten away (CMYK JPEGs, say); say so rather than guess.
    throw new InvalidArgumentError(
      field,
      bytes,
      `decodes to ${data.length} bytes, not ${height}x${width}x${channels}: unsupported colour layout`,
    );
  }
  return data;
}

/** Refuses an empty image or one whose signature is not JPEG, PNG or WebP, naming the format it is. */
function checkEncoding(bytes: Uint8Array, field: string): void {
  if (bytes.length === 0) throw new InvalidArgumentError(field, bytes, 'empty image');
  if (!ACCEPTED.some((f) => f.matches(bytes))) {
    const refused = REFUSED.find((f) => f.matches(bytes));
    throw new InvalidArgumentError(
      field,
      bytes,
      refused
        ? `format ${refused.format} is not accepted: expected JPEG, PNG or WebP`
        : 'not a JPEG, PNG or WebP image (unrecognised signature)',
    );
  }
}

/** An image decoded at its own size: HWC bytes, upright. */
export interface DecodedImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/**
 * Decodes one encoded image at its own size (what EstimatePose crops people from), under the
 * same rules as `decodeImage`: signature check, the pixel limit on the header before any pixel
 * is decoded, upright by its EXIF orientation, alpha on black, `channels` channels.
 */
export async function decodeFullImage(
  bytes: Uint8Array,
  field: string,
  channels: number,
  maxPixels: number,
): Promise<DecodedImage> {
  checkEncoding(bytes, field);
  const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning' })
    .rotate()
    .flatten({ background: '#000000' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch(async (error: unknown) => {
      throw await decodeError(bytes, field, maxPixels, error);
    });
  if (info.channels !== channels || data.length !== info.width * info.height * channels) {
    throw new InvalidArgumentError(
      field,
      bytes,
      `decodes to ${info.channels} channels, not ${channels}: unsupported colour layout`,
    );
  }
  return { pixels: data, width: info.width, height: info.height };
}

/** Width and height of an encoded image once upright (EXIF orientation applied), from its header. */
export async function imageSize(
  bytes: Uint8Array,
  field: string,
): Promise<{ width: number; height: number }> {
  const header = await sharp(bytes, { limitInputPixels: false }).metadata();
  if (header.width === undefined || header.height === undefined) {
    throw new InvalidArgumentError(field, bytes, 'the image header has no size');
  }
  // EXIF orientations 5 to 8 turn the image a quarter: the upright image's sides swap.
  return (header.orientation ?? 1) >= 5
    ? { width: header.height, height: header.width }
    : { width: header.width, height: header.height };
}

/** The error of a failed decode: the dimensions when the pixel limit refused it, else sharp's reason. */
async function decodeError(
  bytes: Uint8Array,
  field: string,
  maxPixels: number,
  error: unknown,
): Promise<InvalidArgumentError> {
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (/exceeds pixel limit/i.test(reason)) {
    // Reading the header again (no pixels) only to put the size in the message.
    const header = await sharp(bytes, { limitInputPixels: false })
      .metadata()
      .catch(() => undefined);
    const size = header ? `${header.width}x${header.height} pixels` : 'the image';
    return new InvalidArgumentError(
      field,
      bytes,
      `${size} is more than the limit of ${maxPixels} pixels (--max-image-pixels)`,
    );
  }
  return new InvalidArgumentError(field, bytes, `not a decodable JPEG, PNG or WebP image (${reason})`);
}
