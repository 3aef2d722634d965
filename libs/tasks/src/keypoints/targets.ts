// SimpleBaseline's training targets (`P/dataset/JointsDataset.py` `generate_target`, DENSE.md
// section 4, "Targets"): per keypoint an unnormalised Gaussian (peak 1) of `sigma` heatmap pixels
// around int(x / stride + .5), int(y / stride + .5) in a (6σ+1)-wide window clipped to the map;
// weight 1 for a labelled keypoint, 0 for an unlabelled one or one whose window misses the map.

/** Heatmap targets of one crop, NHWC like the network's heatmaps. */
export interface KeypointTargets {
  /** `[h, w, k]` row-major. */
  readonly heatmaps: Float32Array;
  /** `[k]`: 1 where the keypoint counts in the loss. */
  readonly weights: Float32Array;
}

export interface TargetOptions {
  readonly heatmapHeight: number;
  readonly heatmapWidth: number;
  /** Gaussian standard deviation in heatmap pixels (the reference's 2). */
  readonly sigma: number;
  /** Crop pixels per heatmap pixel (HEATMAP_STRIDE). */
  readonly stride: number;
}

/**
 * Targets of `keypoints` (k triples x, y, v in crop pixels; v > 0 labelled). Python's int() is
 * a truncation towards zero and is kept as such, so that window edges match the reference for
 * keypoints off the crop and for a sigma whose window is not whole.
 */
export function keypointTargets(keypoints: ArrayLike<number>, options: TargetOptions): KeypointTargets {
  const { heatmapHeight: h, heatmapWidth: w, sigma, stride } = options;
  if (keypoints.length % 3 !== 0) {
    throw new Error(`keypoints: expected (x, y, v) triples, got ${keypoints.length} values`);
  }
  if (!(sigma > 0) || !(stride > 0) || !(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) {
    throw new Error(
      `targets: expected positive sigma, stride and map size, got sigma ${sigma}, stride ${stride}, map ${h}x${w}`,
    );
  }
  const k = keypoints.length / 3;
  const heatmaps = new Float32Array(h * w * k);
  const weights = new Float32Array(k);
  const radius = sigma * 3;
  // The window is np.arange(0, 2·radius + 1): ceil(size) values with the peak at floor(size / 2).
  const centre = Math.floor((2 * radius + 1) / 2);
  const twoSigma2 = 2 * sigma * sigma;
  for (let j = 0; j < k; j++) {
    const x = keypoints[3 * j];
    const y = keypoints[3 * j + 1];
    const v = keypoints[3 * j + 2];
    if (!(v > 0) || !Number.isFinite(x) || !Number.isFinite(y)) continue;
    const mx = Math.trunc(x / stride + 0.5);
    const my = Math.trunc(y / stride + 0.5);
    const left = Math.trunc(mx - radius);
    const top = Math.trunc(my - radius);
    const right = Math.trunc(mx + radius + 1);
    const bottom = Math.trunc(my + radius + 1);
    if (left >= w || top >= h || right < 0 || bottom < 0) continue;
    weights[j] = 1;
    for (let yy = Math.max(0, top); yy < Math.min(bottom, h); yy++) {
      const gy = yy - top - centre;
      for (let xx = Math.max(0, left); xx < Math.min(right, w); xx++) {
        const gx = xx - left - centre;
        heatmaps[(yy * w + xx) * k + j] = Math.exp(-(gx * gx + gy * gy) / twoSigma2);
      }
    }
  }
  return { heatmaps, weights };
}
