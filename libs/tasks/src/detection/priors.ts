// SSDLite's prior (default) boxes: the reference's `generate_ssd_priors` over the specs of
// `ssdlite_config.py` (DENSE.md section 2, "Priors"), generalised to other input sizes.
import { REFERENCE_INPUT_SIZE, type DetectionConfig } from './config';

/** The six maps of the reference at input 320: their sizes, and the shrinkage the table gives each. */
export const REFERENCE_FEATURE_MAPS: readonly number[] = [20, 10, 5, 3, 2, 1];
export const REFERENCE_SHRINKAGES: readonly number[] = [16, 32, 64, 100, 150, 300];

/** Priors per map location: two squares, then two boxes per aspect ratio. */
export function priorsPerLocation(config: DetectionConfig): number {
  return 2 + 2 * config.aspectRatios.length;
}

/** Priors of maps of these sizes: Σ size² · priorsPerLocation. */
export function priorCount(config: DetectionConfig, featureMapSizes: readonly number[]): number {
  return featureMapSizes.reduce((sum, s) => sum + s * s, 0) * priorsPerLocation(config);
}

/**
 * The priors, `[P, 4]` in centre form (cx, cy, w, h) as fractions of the input, each value clamped
 * to [0, 1]. Order: map by map; within a map rows, then columns; per location the square of side
 * min, the square of side √(min·max), then (w√r, h/√r) and (w/√r, h√r) for each ratio r, with min and
 * max the map's two consecutive `boxSizes`. Prior `offset + (y·W + x)·k + j` is what an NHWC head
 * output reshaped to `[N, H·W·k, ·]` predicts.
 *
 * `featureMapSizes` are the network's maps at `config.inputSize`. Sizes stay `boxSizes / 320`. A
 * map's scale (the reference's `image_size / shrinkage`, 3.2 for its 3x3 map: the centres sit off
 * the grid) becomes `(size / size at 320) · 320 / shrinkage`, so that input 320 gives the
 * reference's table exactly and other inputs keep each map's centres where they are relative to it.
 */
export function priorBoxes(config: DetectionConfig, featureMapSizes: readonly number[]): Float32Array {
  const maps = REFERENCE_FEATURE_MAPS.length;
  if (featureMapSizes.length !== maps || config.boxSizes.length !== maps + 1) {
    throw new Error(
      `priors: expected ${maps} feature maps and ${maps + 1} box sizes, got ${featureMapSizes.length} and ${config.boxSizes.length}`,
    );
  }
  featureMapSizes.forEach((s, k) => {
    if (!Number.isSafeInteger(s) || s < 1 || s > 4096) {
      throw new Error(`priors: feature map ${k} has size ${s}, expected an integer in [1, 4096]`);
    }
  });
  const out = new Float32Array(priorCount(config, featureMapSizes) * 4);
  const ratios = config.aspectRatios.map(Math.sqrt);
  let o = 0;
  const push = (cx: number, cy: number, w: number, h: number) => {
    out[o++] = clamp01(cx);
    out[o++] = clamp01(cy);
    out[o++] = clamp01(w);
    out[o++] = clamp01(h);
  };
  featureMapSizes.forEach((size, k) => {
    // In this order so that at 320 the factor is exactly 1 and the scale the reference's quotient.
    const scale = (size / REFERENCE_FEATURE_MAPS[k]) * (REFERENCE_INPUT_SIZE / REFERENCE_SHRINKAGES[k]);
    const min = config.boxSizes[k] / REFERENCE_INPUT_SIZE;
    const big = Math.sqrt(config.boxSizes[k + 1] * config.boxSizes[k]) / REFERENCE_INPUT_SIZE;
    for (let j = 0; j < size; j++) {
      for (let i = 0; i < size; i++) {
        const cx = (i + 0.5) / scale;
        const cy = (j + 0.5) / scale;
        push(cx, cy, min, min);
        push(cx, cy, big, big);
        for (const r of ratios) {
          push(cx, cy, min * r, min / r);
          push(cx, cy, min / r, min * r);
        }
      }
    }
  });
  return out;
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
