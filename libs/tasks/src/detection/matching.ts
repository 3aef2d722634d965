// Ground truth to priors: the reference's `assign_priors` and `MatchPrior` (DENSE.md section 2,
// "Matching"), giving each prior its training target.
import { centerToCorner, cornerToCenter, encodeBoxes, iou } from './boxes';

/** What one image's priors are trained towards. */
export interface PriorTargets {
  /**
   * `[P, 4]`: the encoded box (see `encodeBoxes`) of each prior's ground truth. Only positives are
   * read; background priors hold 0 (the reference leaves their best box there, which no loss reads).
   */
  readonly locations: Float32Array;
  /** `[P]`: 0 for background, c + 1 for (0-based) object class c. */
  readonly labels: Int32Array;
}

/**
 * Matches an image's ground truth to the priors. Each prior takes the ground truth it overlaps
 * most (the first on ties); then each ground truth in turn claims its best prior whatever the
 * overlap (a later one wins a prior two claim); a prior left below `iouThreshold` is background.
 * No ground truth: every prior is background.
 *
 * @param gtBoxes `[G, 4]` corner-form boxes (x1, y1, x2, y2) in fractions of the image.
 * @param gtLabels `[G]` 0-based object classes.
 * @param priors `[P, 4]` centre-form priors (`priorBoxes`).
 */
export function matchPriors(
  gtBoxes: ArrayLike<number>,
  gtLabels: ArrayLike<number>,
  priors: Float32Array,
  iouThreshold: number,
  source = 'ground truth',
): PriorTargets {
  const g = gtLabels.length;
  if (gtBoxes.length !== 4 * g) {
    throw new Error(`${source}: ${g} labels but ${gtBoxes.length} box values, expected ${4 * g}`);
  }
  if (priors.length === 0 || priors.length % 4 !== 0) {
    throw new Error(`${source}: priors must be [P, 4] with P > 0, got ${priors.length} values`);
  }
  if (!(iouThreshold > 0 && iouThreshold < 1)) {
    throw new Error(`${source}: IoU threshold must be in (0, 1), got ${iouThreshold}`);
  }
  for (let t = 0; t < g; t++) checkBox(gtBoxes, gtLabels, t, source);
  const p = priors.length / 4;
  const labels = new Int32Array(p);
  const locations = new Float32Array(4 * p);
  if (g === 0) return { locations, labels };

  const corners = centerToCorner(priors);
  const bestTarget = new Int32Array(p);
  const bestIou = new Float64Array(p).fill(-1);
  const bestPrior = new Int32Array(g);
  const bestPriorIou = new Float64Array(g).fill(-1);
  for (let i = 0; i < p; i++) {
    for (let t = 0; t < g; t++) {
      const v = iou(gtBoxes, t, corners, i);
      if (v > bestIou[i]) [bestIou[i], bestTarget[i]] = [v, t];
      if (v > bestPriorIou[t]) [bestPriorIou[t], bestPrior[t]] = [v, i];
    }
  }
  for (let t = 0; t < g; t++) {
    bestTarget[bestPrior[t]] = t;
    bestIou[bestPrior[t]] = 2;
  }
  const matched: number[] = [];
  for (let i = 0; i < p; i++) {
    if (bestIou[i] < iouThreshold) continue;
    labels[i] = gtLabels[bestTarget[i]] + 1;
    matched.push(i);
  }
  // Encode the positives only: a box per positive, against its prior.
  const boxes = new Float32Array(4 * matched.length);
  const their = new Float32Array(4 * matched.length);
  matched.forEach((i, m) => {
    const t = bestTarget[i];
    for (let k = 0; k < 4; k++) {
      boxes[4 * m + k] = gtBoxes[4 * t + k];
      their[4 * m + k] = priors[4 * i + k];
    }
  });
  const encoded = encodeBoxes(cornerToCenter(boxes), their);
  matched.forEach((i, m) => locations.set(encoded.subarray(4 * m, 4 * m + 4), 4 * i));
  return { locations, labels };
}

/** A box must be finite with positive width and height (its encoding takes the log of both). */
function checkBox(boxes: ArrayLike<number>, labels: ArrayLike<number>, t: number, source: string): void {
  const [x1, y1, x2, y2] = [boxes[4 * t], boxes[4 * t + 1], boxes[4 * t + 2], boxes[4 * t + 3]];
  if (![x1, y1, x2, y2].every(Number.isFinite) || !(x2 > x1 && y2 > y1)) {
    throw new Error(
      `${source}: box ${t} is [${[x1, y1, x2, y2].join(', ')}], expected finite corners with x2 > x1 and y2 > y1`,
    );
  }
  const label = labels[t];
  if (!Number.isSafeInteger(label) || label < 0 || label >= 2 ** 24) {
    throw new Error(`${source}: label ${t} is ${label}, expected a class index >= 0`);
  }
}
