// Heatmaps to keypoints as the reference's `get_final_preds` (`P/core/inference.py`, DENSE.md
// section 4, "Inference"): the argmax of each map, its value as the score (coordinates 0 when it
// is not positive), a quarter-pixel step towards the higher neighbour away from the border; then
// the crop's inverse affine takes them to the image. On the host: a batch's maps are small.

/** An affine map [a, b, c, d, e, f]: x' = a·x + b·y + c, y' = d·x + e·y + f. */
export type Affine = readonly [number, number, number, number, number, number];

/** Values per keypoint in a decoded array: x, y, score. */
export const KEYPOINT_VALUES = 3;

/**
 * Keypoints of NHWC heatmaps `[n, h, w, k]`: `n·k·3` values (x, y, score) per image and
 * keypoint, x and y in heatmap pixels times `scale` (the heatmap stride gives input-crop pixels).
 * Ties go to the first maximum in row-major order (numpy's argmax). The quarter-pixel shift
 * applies when 1 < x < w − 1 and 1 < y < h − 1, the reference's bounds (`1 < px < 47` at w = 48).
 */
export function decodeHeatmaps(
  heatmaps: Float32Array,
  shape: readonly [n: number, h: number, w: number, k: number],
  scale = 1,
): Float32Array {
  const [n, h, w, k] = shape;
  if (![n, h, w, k].every((v) => Number.isInteger(v) && v >= 0) || heatmaps.length !== n * h * w * k) {
    throw new Error(`heatmaps: ${heatmaps.length} values do not make the shape [${shape.join(', ')}] (NHWC)`);
  }
  const out = new Float32Array(n * k * KEYPOINT_VALUES);
  const at = (i: number, y: number, x: number, j: number) => heatmaps[((i * h + y) * w + x) * k + j];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let best = -Infinity;
      let bx = 0;
      let by = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = at(i, y, x, j);
          // NaN never wins (numpy's argmax would pick it); a map of nothing but NaN scores NaN.
          if (v > best) {
            best = v;
            bx = x;
            by = y;
          }
        }
      }
      if (best === -Infinity) best = h * w > 0 ? at(i, 0, 0, j) : 0;
      let px = bx;
      let py = by;
      if (!(best > 0)) {
        px = 0;
        py = 0;
      } else if (1 < bx && bx < w - 1 && 1 < by && by < h - 1) {
        px += 0.25 * Math.sign(at(i, by, bx + 1, j) - at(i, by, bx - 1, j));
        py += 0.25 * Math.sign(at(i, by + 1, bx, j) - at(i, by - 1, bx, j));
      }
      const o = (i * k + j) * KEYPOINT_VALUES;
      out[o] = px * scale;
      out[o + 1] = py * scale;
      out[o + 2] = best;
    }
  }
  return out;
}

/**
 * Keypoints `(x, y, score)` in crop pixels taken to the image through the crop's inverse affine
 * (`cropAffine(..., inverse = true)`); scores unchanged. A new array.
 */
export function keypointsToImage(keypoints: ArrayLike<number>, inverse: Affine): Float32Array {
  if (keypoints.length % KEYPOINT_VALUES !== 0) {
    throw new Error(`keypoints: expected (x, y, score) triples, got ${keypoints.length} values`);
  }
  if (inverse.length !== 6 || !inverse.every(Number.isFinite)) {
    throw new Error(`affine: expected 6 finite numbers [a, b, c, d, e, f], got [${inverse.join(', ')}]`);
  }
  const [a, b, c, d, e, f] = inverse;
  const out = new Float32Array(keypoints.length);
  for (let o = 0; o < keypoints.length; o += KEYPOINT_VALUES) {
    const x = keypoints[o];
    const y = keypoints[o + 1];
    out[o] = a * x + b * y + c;
    out[o + 1] = d * x + e * y + f;
    out[o + 2] = keypoints[o + 2];
  }
  return out;
}
