// What a Segment request carries beyond Classify's rules (the label map encoding), and the
// response built from the segmenter's serving records: per image, the argmax class of each pixel
// at the network's input size, resized (nearest) to the image's own size.
import { InvalidArgumentError } from '@rnas/grpc';
import { LabelMapEncoding, type ClassPixels, type ImageSegmentation } from '@rnas/proto';
import { encodeLabelPng, vocPalette, type Colour } from '@rnas/data';

export type LabelMapFormat = 'png' | 'raw';

/** The request's encoding: unset means PNG. */
export function resolveLabelMapEncoding(encoding: LabelMapEncoding): LabelMapFormat {
  switch (encoding) {
    case LabelMapEncoding.LABEL_MAP_ENCODING_UNSPECIFIED:
    case LabelMapEncoding.LABEL_MAP_ENCODING_PNG:
      return 'png';
    case LabelMapEncoding.LABEL_MAP_ENCODING_RAW:
      return 'raw';
    default:
      throw new InvalidArgumentError(
        'encoding',
        encoding,
        'expected LABEL_MAP_ENCODING_PNG (or unset) or LABEL_MAP_ENCODING_RAW',
      );
  }
}

/**
 * Nearest-neighbour resize of a row-major byte map: each output pixel reads the source pixel
 * under its centre (as PIL's NEAREST), so a map resized to its own size is unchanged.
 */
export function resizeNearest(
  labels: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (width === outWidth && height === outHeight) return labels;
  const columns = new Int32Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    columns[x] = Math.min(width - 1, Math.floor(((x + 0.5) * width) / outWidth));
  }
  const out = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / outHeight)) * width;
    const base = y * outWidth;
    for (let x = 0; x < outWidth; x++) out[base + x] = labels[row + columns[x]];
  }
  return out;
}

/** Every class present in a label map with its pixel count, most pixels first (ties by index). */
export function classPixels(labels: Uint8Array, names: readonly string[]): ClassPixels[] {
  const counts = new Float64Array(256);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  const present: ClassPixels[] = [];
  counts.forEach((pixels, classIndex) => {
    if (pixels > 0) present.push({ classIndex, label: names[classIndex] ?? String(classIndex), pixels });
  });
  return present.sort((a, b) => b.pixels - a.pixels || a.classIndex - b.classIndex);
}

/**
 * The segmentation of each image from the batch's records (`inputHeight * inputWidth` class
 * indices as floats per image), at the image's own size (`sizes[i]`; the input size for a tensor).
 */
export function imageSegmentations(
  records: Float32Array,
  input: { readonly height: number; readonly width: number },
  sizes: readonly { width: number; height: number }[],
  labels: readonly string[],
  format: LabelMapFormat,
): ImageSegmentation[] {
  const size = input.height * input.width;
  let palette: Colour[] | undefined;
  return sizes.map(({ width, height }, i) => {
    const map = new Uint8Array(size);
    for (let p = 0; p < size; p++) {
      const v = records[i * size + p];
      // The network's argmax: anything else is a broken model, not a bad request.
      if (!(Number.isInteger(v) && v >= 0 && v < labels.length)) {
        throw new Error(
          `segmentation record ${i}: pixel ${p} has class ${v}, the model has ${labels.length}`,
        );
      }
      map[p] = v;
    }
    const resized = resizeNearest(map, input.width, input.height, width, height);
    palette ??= format === 'png' ? vocPalette() : undefined;
    return {
      width,
      height,
      labelMap: format === 'png' ? encodeLabelPng(resized, width, height, palette) : Buffer.from(resized),
      classes: classPixels(resized, labels),
    };
  });
}
