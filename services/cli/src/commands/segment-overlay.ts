// A label map laid over its image: each pixel of a class other than the background blended with
// the class's palette colour, written as PNG at the image's own size.
import sharp from 'sharp';
import { vocPalette } from '@rnas/data';

/** Class 0's colour in the palette the service writes (VOC's black): pixels of it stay as they are. */
const BACKGROUND = vocPalette(1)[0];

/** Pixels of an encoded image as 8-bit RGB (grey and alpha dropped or expanded). */
async function rgb(
  input: Uint8Array,
  resize?: { width: number; height: number },
): Promise<{ data: Buffer; width: number; height: number }> {
  let pipeline = sharp(input).removeAlpha().toColourspace('srgb');
  // Nearest neighbour: a label map's colours are classes, never to be mixed.
  if (resize !== undefined)
    pipeline = pipeline.resize(resize.width, resize.height, { fit: 'fill', kernel: 'nearest' });
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/**
 * The image (JPEG, PNG or WebP bytes) with the label map (a palette PNG, as Segment returns it)
 * blended over it at `alpha` (0: the image, 1: the class colours), as PNG. A label map of another
 * size is stretched to the image's.
 */
export async function overlayLabelMap(image: Uint8Array, labelMap: Uint8Array, alpha = 0.5): Promise<Buffer> {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`alpha: expected a number in [0, 1], got ${alpha}`);
  const picture = await rgb(image);
  const { width, height } = picture;
  const labels = await rgb(labelMap).catch((error: unknown) => {
    throw new Error(`the label map is not an image: ${(error as Error).message}`);
  });
  const colours =
    labels.width === width && labels.height === height ? labels : await rgb(labelMap, { width, height });
  const out = Buffer.from(picture.data);
  const [br, bg, bb] = BACKGROUND;
  for (let p = 0; p < width * height * 3; p += 3) {
    const r = colours.data[p];
    const g = colours.data[p + 1];
    const b = colours.data[p + 2];
    if (r === br && g === bg && b === bb) continue;
    out[p] = Math.round((1 - alpha) * out[p] + alpha * r);
    out[p + 1] = Math.round((1 - alpha) * out[p + 1] + alpha * g);
    out[p + 2] = Math.round((1 - alpha) * out[p + 2] + alpha * b);
  }
  return sharp(out, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}
