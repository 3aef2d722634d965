import { normalizationTable } from '@rnas/data';
import type { Preprocessing } from './artifact';
import { invalidArgument } from './errors';

/**
 * Raw pixels (uint8, NHWC, `count` images of the model's input size) to the network's input
 * (float32 NHWC), as preprocessing.json says: (v / 255 - mean[c]) / std[c].
 */
export function normalizePixels(pre: Preprocessing, pixels: Uint8Array, count: number): Float32Array {
  const per = pre.inputHeight * pre.inputWidth * pre.channels;
  if (!Number.isSafeInteger(count) || count < 1) throw invalidArgument('count', count, 'a positive integer');
  if (pixels.length !== count * per) {
    throw invalidArgument(
      'pixels.length',
      pixels.length,
      `${count} images of ${pre.inputHeight}x${pre.inputWidth}x${pre.channels} = ${count * per} bytes`,
    );
  }
  const table = normalizationTable(pre.mean, pre.std);
  const out = new Float32Array(pixels.length);
  const ch = pre.channels;
  for (let i = 0; i < pixels.length; i++) out[i] = table[(i % ch) * 256 + pixels[i]];
  return out;
}
