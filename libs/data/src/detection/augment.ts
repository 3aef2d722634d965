// SSDLite's training augmentation, as the reference repo runs it (DENSE.md section 2
// "Augmentation"; `S/ssd/data_preprocessing.py`, `S/transforms/transforms.py`, from ssd.pytorch):
// photometric distortion, expand, random crop, mirror, then normalised boxes and a bilinear
// resize. Draws come from the given Rng, so a seed gives the same sample every time.
import { checkInt, invalidArgument } from '../errors';
import type { Rng } from '../rng';
import type { ObjectBox } from './types';

/** An RGB float image (HWC, 0..255, not clipped) with its boxes [n, 4] (x1, y1, x2, y2 in pixels) and labels [n]. */
export interface DetectionSample {
  pixels: Float32Array;
  width: number;
  height: number;
  boxes: Float32Array;
  labels: Int32Array;
}

/** The reference's `image_mean` (`ssdlite_config.py`): expand fills with it. */
export const EXPAND_FILL = 127;

function uniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng.nextFloat();
}

function coin(rng: Rng): boolean {
  return rng.nextInt(2) === 1;
}

/** A training sample from a decoded image: RGB bytes as floats, the training objects' boxes and labels. */
export function detectionSample(
  decoded: { pixels: Uint8Array; width: number; height: number },
  objects: readonly ObjectBox[],
): DetectionSample {
  const boxes = new Float32Array(objects.length * 4);
  objects.forEach((o, i) => boxes.set([o.xMin, o.yMin, o.xMax, o.yMax], i * 4));
  return {
    pixels: Float32Array.from(decoded.pixels),
    width: decoded.width,
    height: decoded.height,
    boxes,
    labels: Int32Array.from(objects, (o) => o.classIndex),
  };
}

function checkSample(sample: DetectionSample): void {
  const { width, height, pixels, boxes, labels } = sample;
  checkInt('sample.width', width, 1, 1 << 16);
  checkInt('sample.height', height, 1, 1 << 16);
  if (!(pixels instanceof Float32Array) || pixels.length !== width * height * 3) {
    throw invalidArgument('sample.pixels', pixels?.length, `a Float32Array of ${width}x${height}x3 values`);
  }
  if (
    !(boxes instanceof Float32Array) ||
    !(labels instanceof Int32Array) ||
    boxes.length !== labels.length * 4
  ) {
    throw invalidArgument(
      'sample.boxes',
      boxes?.length,
      `a Float32Array of 4 values per label (${labels?.length} labels)`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    const [x1, y1, x2, y2] = boxes.subarray(i * 4, i * 4 + 4);
    if (!(x1 >= 0 && y1 >= 0 && x2 <= width && y2 <= height && x2 > x1 && y2 > y1)) {
      throw invalidArgument(
        `sample.boxes[${i}]`,
        `[${x1}, ${y1}, ${x2}, ${y2}]`,
        `a box of positive area inside ${width}x${height}`,
      );
    }
  }
}

/**
 * The reference's train augmentation up to (not including) ToPercentCoords: photometric
 * distortion, expand, crop, mirror. Returns a new sample; the input is not changed. Draws, in
 * order: photometric (brightness, order, contrast, saturation, hue, contrast, channel swap, each a
 * coin then its value), expand (coin, ratio, left, top), crop (mode, then per trial w, h, left,
 * top), mirror (coin).
 */
export function augmentDetection(
  sample: DetectionSample,
  rng: Rng,
  mode: DetectionAugmentMode = 'ssd',
): DetectionSample {
  checkSample(sample);
  if (mode !== 'ssd' && mode !== 'mirror') throw invalidArgument('mode', mode, 'ssd or mirror');
  let s: DetectionSample = {
    ...sample,
    pixels: Float32Array.from(sample.pixels),
    boxes: Float32Array.from(sample.boxes),
    labels: Int32Array.from(sample.labels),
  };
  if (mode === 'ssd') {
    photometric(s.pixels, rng);
    s = expand(s, rng);
    s = crop(s, rng);
  }
  return mirror(s, rng);
}

/** `ssd`: the reference's four steps; `mirror`: the mirror step alone (one coin per image). */
export type DetectionAugmentMode = 'ssd' | 'mirror';

// RGB <-> HSV as OpenCV's float conversion (H in degrees, S in [0, 1] for in-range input, V = max):
// values outside [0, 255] (after brightness) go through unclipped, as in the reference.
const EPS = 1.1920928955078125e-7;

function rgbToHsv(p: Float32Array): void {
  for (let i = 0; i < p.length; i += 3) {
    const r = p[i];
    const g = p[i + 1];
    const b = p[i + 2];
    let v = r;
    if (v < g) v = g;
    if (v < b) v = b;
    let min = r;
    if (min > g) min = g;
    if (min > b) min = b;
    const diff = v - min;
    const s = diff / ((v < 0 ? -v : v) + EPS);
    const k = 60 / (diff + EPS);
    let h = v === r ? (g - b) * k : v === g ? (b - r) * k + 120 : (r - g) * k + 240;
    if (h < 0) h += 360;
    p[i] = h;
    p[i + 1] = s;
    p[i + 2] = v;
  }
}

// OpenCV's sector table: which of [v, p, q, t] is b, g, r in each sixth of the hue circle.
const SECTORS = [
  [1, 3, 0],
  [1, 0, 2],
  [3, 0, 1],
  [0, 2, 1],
  [0, 1, 3],
  [2, 1, 0],
];

function hsvToRgb(p: Float32Array): void {
  const tab = [0, 0, 0, 0];
  for (let i = 0; i < p.length; i += 3) {
    let h = p[i];
    const s = p[i + 1];
    const v = p[i + 2];
    if (s === 0) {
      p[i] = p[i + 1] = p[i + 2] = v;
      continue;
    }
    h *= 6 / 360;
    while (h < 0) h += 6;
    while (h >= 6) h -= 6;
    let sector = Math.floor(h);
    h -= sector;
    if (sector < 0 || sector >= 6) {
      sector = 0;
      h = 0;
    }
    tab[0] = v;
    tab[1] = v * (1 - s);
    tab[2] = v * (1 - s * h);
    tab[3] = v * (1 - s * (1 - h));
    const [bi, gi, ri] = SECTORS[sector];
    p[i] = tab[ri];
    p[i + 1] = tab[gi];
    p[i + 2] = tab[bi];
  }
}

function scaleChannel(p: Float32Array, c: number, factor: number): void {
  for (let i = c; i < p.length; i += 3) p[i] *= factor;
}

/** PhotometricDistort: brightness, then contrast first or last around the HSV edits, then a channel swap. */
function photometric(p: Float32Array, rng: Rng): void {
  if (coin(rng)) {
    const delta = uniform(rng, -32, 32);
    for (let i = 0; i < p.length; i++) p[i] += delta;
  }
  const contrast = (): void => {
    if (coin(rng)) {
      const alpha = uniform(rng, 0.5, 1.5);
      for (let i = 0; i < p.length; i++) p[i] *= alpha;
    }
  };
  const contrastFirst = coin(rng);
  if (contrastFirst) contrast();
  rgbToHsv(p);
  if (coin(rng)) scaleChannel(p, 1, uniform(rng, 0.5, 1.5));
  if (coin(rng)) {
    const delta = uniform(rng, -18, 18);
    for (let i = 0; i < p.length; i += 3) {
      let h = p[i] + delta;
      if (h > 360) h -= 360;
      else if (h < 0) h += 360;
      p[i] = h;
    }
  }
  hsvToRgb(p);
  if (!contrastFirst) contrast();
  if (coin(rng)) {
    const perms = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    const [a, b, c] = perms[rng.nextInt(6)];
    for (let i = 0; i < p.length; i += 3) {
      const x = [p[i], p[i + 1], p[i + 2]];
      p[i] = x[a];
      p[i + 1] = x[b];
      p[i + 2] = x[c];
    }
  }
}

/** Expand: with p 1/2, the image placed at an integer offset on a canvas 1 to 4 times larger, filled with the mean. */
function expand(s: DetectionSample, rng: Rng): DetectionSample {
  // The reference returns early when its coin comes up 1.
  if (coin(rng)) return s;
  const { width, height } = s;
  const ratio = uniform(rng, 1, 4);
  const left = Math.floor(uniform(rng, 0, width * ratio - width));
  const top = Math.floor(uniform(rng, 0, height * ratio - height));
  const w = Math.floor(width * ratio);
  const h = Math.floor(height * ratio);
  const pixels = new Float32Array(w * h * 3).fill(EXPAND_FILL);
  for (let y = 0; y < height; y++) {
    pixels.set(s.pixels.subarray(y * width * 3, (y + 1) * width * 3), ((top + y) * w + left) * 3);
  }
  const boxes = Float32Array.from(s.boxes);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] += left;
    boxes[i + 1] += top;
    boxes[i + 2] += left;
    boxes[i + 3] += top;
  }
  return { pixels, width: w, height: h, boxes, labels: s.labels };
}

/**
 * numpy's `random.uniform(x)` as the reference calls it for the crop offset: `x` is the *low*
 * bound and 1.0 the high one, so the offset is drawn between 1 and x (not 0 and x).
 */
function numpyUniformLow(rng: Rng, low: number): number {
  return low + (1 - low) * rng.nextFloat();
}

/**
 * RandomSampleCrop as the repo runs it. Its IoU test (`overlap.min() < min_iou and max_iou <
 * overlap.max()`, max_iou always infinite) never rejects, so the modes differ only in that one of
 * six keeps the whole image; a crop needs at least one box centre strictly inside it.
 */
function crop(s: DetectionSample, rng: Rng): DetectionSample {
  const n = s.labels.length;
  // The reference fails on an image without boxes (min of an empty overlap); here it stays whole.
  if (n === 0) return s;
  const { width, height } = s;
  for (;;) {
    if (rng.nextInt(6) === 0) return s;
    for (let trial = 0; trial < 50; trial++) {
      const w = uniform(rng, 0.3 * width, width);
      const h = uniform(rng, 0.3 * height, height);
      if (h / w < 0.5 || h / w > 2) continue;
      const left = numpyUniformLow(rng, width - w);
      const top = numpyUniformLow(rng, height - h);
      const r0 = Math.floor(left);
      const r1 = Math.floor(top);
      // numpy slicing stops at the edge; the boxes are clipped to the same rectangle.
      const r2 = Math.min(width, Math.floor(left + w));
      const r3 = Math.min(height, Math.floor(top + h));
      const keep: number[] = [];
      for (let i = 0; i < n; i++) {
        const cx = (s.boxes[i * 4] + s.boxes[i * 4 + 2]) / 2;
        const cy = (s.boxes[i * 4 + 1] + s.boxes[i * 4 + 3]) / 2;
        if (r0 < cx && r1 < cy && r2 > cx && r3 > cy) keep.push(i);
      }
      if (keep.length === 0) continue;
      const cw = r2 - r0;
      const ch = r3 - r1;
      const pixels = new Float32Array(cw * ch * 3);
      for (let y = 0; y < ch; y++) {
        const from = ((r1 + y) * width + r0) * 3;
        pixels.set(s.pixels.subarray(from, from + cw * 3), y * cw * 3);
      }
      const boxes = new Float32Array(keep.length * 4);
      const labels = new Int32Array(keep.length);
      keep.forEach((i, k) => {
        boxes[k * 4] = Math.max(s.boxes[i * 4], r0) - r0;
        boxes[k * 4 + 1] = Math.max(s.boxes[i * 4 + 1], r1) - r1;
        boxes[k * 4 + 2] = Math.min(s.boxes[i * 4 + 2], r2) - r0;
        boxes[k * 4 + 3] = Math.min(s.boxes[i * 4 + 3], r3) - r1;
        labels[k] = s.labels[i];
      });
      return { pixels, width: cw, height: ch, boxes, labels };
    }
  }
}

/** RandomMirror: with p 1/2, flipped left-right; x becomes width - x, as the reference. */
function mirror(s: DetectionSample, rng: Rng): DetectionSample {
  if (!coin(rng)) return s;
  const { width, height } = s;
  const pixels = new Float32Array(s.pixels.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const from = row + x * 3;
      const to = row + (width - 1 - x) * 3;
      pixels[to] = s.pixels[from];
      pixels[to + 1] = s.pixels[from + 1];
      pixels[to + 2] = s.pixels[from + 2];
    }
  }
  const boxes = Float32Array.from(s.boxes);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = width - s.boxes[i + 2];
    boxes[i + 2] = width - s.boxes[i];
  }
  return { ...s, pixels, boxes };
}

/**
 * ToPercentCoords and Resize: boxes divided by the image size, pixels resized to size x size with
 * OpenCV's bilinear rule (half-pixel centres, edges clamped, no antialiasing; aspect not kept).
 * The caller applies (x - 127) / 128. The test transform is this alone.
 */
export function resizeDetection(
  sample: DetectionSample,
  size: number,
): { pixels: Float32Array; boxes: Float32Array; labels: Int32Array } {
  checkSample(sample);
  checkInt('size', size, 1, 4096);
  const { width, height } = sample;
  const xs = linearTaps(width, size);
  const ys = linearTaps(height, size);
  const src = sample.pixels;
  const out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const r0 = ys.index[y] * width * 3;
    const r1 = ys.next[y] * width * 3;
    const fy = ys.weight[y];
    for (let x = 0; x < size; x++) {
      const c0 = xs.index[x] * 3;
      const c1 = xs.next[x] * 3;
      const fx = xs.weight[x];
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + c0 + c] * (1 - fx) + src[r0 + c1 + c] * fx;
        const bottom = src[r1 + c0 + c] * (1 - fx) + src[r1 + c1 + c] * fx;
        out[o + c] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  const boxes = Float32Array.from(sample.boxes);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] /= width;
    boxes[i + 1] /= height;
    boxes[i + 2] /= width;
    boxes[i + 3] /= height;
  }
  return { pixels: out, boxes, labels: Int32Array.from(sample.labels) };
}

/** Source index, next index and weight per output position (cv::resize INTER_LINEAR). */
export function linearTaps(
  input: number,
  output: number,
): { index: Int32Array; next: Int32Array; weight: Float32Array } {
  const scale = input / output;
  const index = new Int32Array(output);
  const next = new Int32Array(output);
  const weight = new Float32Array(output);
  for (let d = 0; d < output; d++) {
    const f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    let w = f - s;
    if (s < 0) {
      s = 0;
      w = 0;
    }
    if (s >= input - 1) {
      s = input - 1;
      w = 0;
    }
    index[d] = s;
    next[d] = Math.min(s + 1, input - 1);
    weight[d] = w;
  }
  return { index, next, weight };
}
