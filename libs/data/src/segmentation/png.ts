// Label maps as 8-bit palette PNGs (Pascal VOC's SegmentationClass format): each pixel's value is
// its class index, the palette colours the classes. Written here with node's zlib (one PLTE and
// one IDAT chunk, filter 0 rows); read back through sharp's RGB and the palette (see
// `labelsFromColours`), so any PNG a tool writes in VOC's colours reads the same.
import { crc32, deflateSync } from 'node:zlib';

export type Colour = readonly [number, number, number];

/** The ignore label's colour in VOC's masks (object borders). */
export const IGNORE_COLOUR: Colour = [224, 224, 192];

/**
 * Pascal VOC's colour map (`labelcolormap` of the devkit): class i's colour from the bits of i;
 * index 255 is VOC's border colour. The palette of every label map this project writes.
 */
export function vocPalette(size = 256): Colour[] {
  const palette: Colour[] = [];
  for (let i = 0; i < size; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let c = i;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    palette.push([r, g, b]);
  }
  if (size > 255) palette[255] = IGNORE_COLOUR;
  return palette;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit palette PNG of `width x height` class indices (row-major), coloured by `palette`. */
export function encodeLabelPng(
  indices: Uint8Array,
  width: number,
  height: number,
  palette: readonly Colour[] = vocPalette(),
): Buffer {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`label map: expected a positive integer size, got ${width}x${height}`);
  }
  if (indices.length !== width * height) {
    throw new Error(
      `label map: expected ${width * height} indices for ${width}x${height}, got ${indices.length}`,
    );
  }
  if (palette.length < 1 || palette.length > 256) {
    throw new Error(`label map: expected 1 to 256 palette colours, got ${palette.length}`);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 3; // colour type: palette
  const plte = Buffer.alloc(palette.length * 3);
  palette.forEach(([r, g, b], i) => plte.set([r, g, b], i * 3));
  const rows = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    rows.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('PLTE', plte),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * Class indices from decoded RGB pixels of a label map by its palette's colours; `undefined` for
 * the first pixel whose colour is not in the palette (its index is returned in `badPixel`).
 */
export function labelsFromColours(
  rgb: Uint8Array,
  palette: readonly Colour[],
): { labels: Uint8Array; badPixel?: number } {
  const lookup = new Map<number, number>();
  palette.forEach(([r, g, b], i) => {
    const key = (r << 16) | (g << 8) | b;
    if (!lookup.has(key)) lookup.set(key, i);
  });
  const n = rgb.length / 3;
  const labels = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const index = lookup.get((rgb[3 * p] << 16) | (rgb[3 * p + 1] << 8) | rgb[3 * p + 2]);
    if (index === undefined) return { labels, badPixel: p };
    labels[p] = index;
  }
  return { labels };
}
