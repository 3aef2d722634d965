// Box forms and the SSD box encoding (`box_utils.py`; DENSE.md section 2, "Encoding"), on host
// arrays of `[M, 4]` boxes in fractions of the input: corner form (x1, y1, x2, y2) or centre form
// (cx, cy, w, h).

/** The encoding's variances: the reference's `center_variance` and `size_variance`. */
export const CENTER_VARIANCE = 0.1;
export const SIZE_VARIANCE = 0.2;

/** The reference's `iou_of` guard against empty unions. */
const IOU_EPS = 1e-5;

export function centerToCorner(boxes: ArrayLike<number>): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const [cx, cy, w, h] = [boxes[i], boxes[i + 1], boxes[i + 2], boxes[i + 3]];
    out[i] = cx - w / 2;
    out[i + 1] = cy - h / 2;
    out[i + 2] = cx + w / 2;
    out[i + 3] = cy + h / 2;
  }
  return out;
}

export function cornerToCenter(boxes: ArrayLike<number>): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const [x1, y1, x2, y2] = [boxes[i], boxes[i + 1], boxes[i + 2], boxes[i + 3]];
    out[i] = (x1 + x2) / 2;
    out[i + 1] = (y1 + y2) / 2;
    out[i + 2] = x2 - x1;
    out[i + 3] = y2 - y1;
  }
  return out;
}

/** IoU of corner-form box `i` of `a` and box `j` of `b` (box indices, not offsets). */
export function iou(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const [ax1, ay1, ax2, ay2] = [a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]];
  const [bx1, by1, bx2, by2] = [b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]];
  const overlap = area(Math.max(ax1, bx1), Math.max(ay1, by1), Math.min(ax2, bx2), Math.min(ay2, by2));
  return overlap / (area(ax1, ay1, ax2, ay2) + area(bx1, by1, bx2, by2) - overlap + IOU_EPS);
}

/** `[A, B]` IoUs of corner-form boxes: row i holds box i of `a` against every box of `b`. */
export function iouMatrix(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const na = a.length / 4;
  const nb = b.length / 4;
  const out = new Float32Array(na * nb);
  for (let i = 0; i < na; i++) for (let j = 0; j < nb; j++) out[i * nb + j] = iou(a, i, b, j);
  return out;
}

function area(x1: number, y1: number, x2: number, y2: number): number {
  return Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
}

/** Regression targets of centre-form boxes against their priors (one box per prior). */
export function encodeBoxes(boxes: ArrayLike<number>, priors: ArrayLike<number>): Float32Array {
  checkPaired(boxes, priors, 'encode');
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const [pw, ph] = [priors[i + 2], priors[i + 3]];
    out[i] = (boxes[i] - priors[i]) / pw / CENTER_VARIANCE;
    out[i + 1] = (boxes[i + 1] - priors[i + 1]) / ph / CENTER_VARIANCE;
    out[i + 2] = Math.log(boxes[i + 2] / pw) / SIZE_VARIANCE;
    out[i + 3] = Math.log(boxes[i + 3] / ph) / SIZE_VARIANCE;
  }
  return out;
}

/** Centre-form boxes from regression outputs (one per prior): the inverse of `encodeBoxes`. */
export function decodeBoxes(locations: ArrayLike<number>, priors: ArrayLike<number>): Float32Array {
  checkPaired(locations, priors, 'decode');
  const out = new Float32Array(locations.length);
  for (let i = 0; i < locations.length; i += 4) {
    const [pw, ph] = [priors[i + 2], priors[i + 3]];
    out[i] = locations[i] * CENTER_VARIANCE * pw + priors[i];
    out[i + 1] = locations[i + 1] * CENTER_VARIANCE * ph + priors[i + 1];
    out[i + 2] = Math.exp(locations[i + 2] * SIZE_VARIANCE) * pw;
    out[i + 3] = Math.exp(locations[i + 3] * SIZE_VARIANCE) * ph;
  }
  return out;
}

function checkPaired(boxes: ArrayLike<number>, priors: ArrayLike<number>, what: string): void {
  if (boxes.length !== priors.length || boxes.length % 4 !== 0) {
    throw new Error(`${what}: expected one box per prior, got ${boxes.length} and ${priors.length} values`);
  }
}
