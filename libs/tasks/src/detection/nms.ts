// Greedy non-maximum suppression: the reference's `hard_nms` (`box_utils.py`).
import { iou } from './boxes';

/**
 * Indices of the boxes kept, best score first: of the `candidates` highest scores (ties: the lower
 * index first), repeatedly keep the best left and drop every other box whose IoU with it is above
 * `iouThreshold`.
 *
 * @param boxes `[M, 4]` corner-form boxes.
 * @param scores `[M]` their scores.
 */
export function nms(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  iouThreshold: number,
  candidates = 200,
): number[] {
  if (boxes.length !== 4 * scores.length) {
    throw new Error(`nms: ${scores.length} scores but ${boxes.length} box values`);
  }
  let left = Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .slice(0, candidates);
  const kept: number[] = [];
  while (left.length > 0) {
    const best = left[0];
    kept.push(best);
    left = left.slice(1).filter((i) => iou(boxes, i, boxes, best) <= iouThreshold);
  }
  return kept;
}
