// The top-down crop geometry of SimpleBaseline (`P/utils/transforms.py:54-112`,
// `P/dataset/coco.py` _xywh2cs): a person box becomes a centre and a scale in units of 200 pixels
// (the reference's pixel_std), and a centre, scale and rotation become the 2x3 affine transform
// that maps the image onto the network's input crop.
import { invalidArgument } from '../errors';

/** A 2x3 affine transform [a, b, c, d, e, f]: x' = a x + b y + c, y' = d x + e y + f. */
export type Affine = [number, number, number, number, number, number];

/** The reference's pixel_std: scales are box sides over 200 pixels. */
export const PIXEL_STD = 200;

/**
 * A box [x, y, w, h] as a crop centre and scale: the centre of the box; the box grown to the
 * crop's aspect ratio (width / height) along its short side, times `padding` (the reference's
 * 1.25), over 200 pixels.
 */
export function boxCenterScale(
  box: readonly [number, number, number, number] | readonly number[],
  aspect: number,
  padding = 1.25,
): { center: [number, number]; scale: [number, number] } {
  if (!(aspect > 0 && Number.isFinite(aspect))) throw invalidArgument('aspect', aspect, 'a positive number');
  if (!(padding > 0 && Number.isFinite(padding)))
    throw invalidArgument('padding', padding, 'a positive number');
  if (box.length !== 4 || !box.every(Number.isFinite)) {
    throw invalidArgument('box', box, '[x, y, width, height] of finite numbers');
  }
  const [x, y] = box;
  let [, , w, h] = box;
  const center: [number, number] = [x + w * 0.5, y + h * 0.5];
  if (w > aspect * h) h = w / aspect;
  else if (w < aspect * h) w = h * aspect;
  return { center, scale: [(w / PIXEL_STD) * padding, (h / PIXEL_STD) * padding] };
}

/** The affine transform taking three source points to three destination points (exact; as cv2.getAffineTransform). */
export function affineFromPoints(
  src: readonly (readonly [number, number])[],
  dst: readonly (readonly [number, number])[],
): Affine {
  const [[x0, y0], [x1, y1], [x2, y2]] = src;
  const det = x0 * (y1 - y2) - y0 * (x1 - x2) + (x1 * y2 - x2 * y1);
  if (det === 0 || !Number.isFinite(det)) {
    throw invalidArgument('src', src, 'three points not on one line');
  }
  // Cramer's rule on [x y 1] [p q r]^T = u for each output coordinate.
  const solve = (u0: number, u1: number, u2: number): [number, number, number] => [
    (u0 * (y1 - y2) - y0 * (u1 - u2) + (u1 * y2 - u2 * y1)) / det,
    (x0 * (u1 - u2) - u0 * (x1 - x2) + (x1 * u2 - x2 * u1)) / det,
    (x0 * (y1 * u2 - y2 * u1) - y0 * (x1 * u2 - x2 * u1) + u0 * (x1 * y2 - x2 * y1)) / det,
  ];
  return [...solve(dst[0][0], dst[1][0], dst[2][0]), ...solve(dst[0][1], dst[1][1], dst[2][1])];
}

/** The reference's get_3rd_point: b plus (a - b) turned a quarter. */
function thirdPoint(a: readonly [number, number], b: readonly [number, number]): [number, number] {
  return [b[0] - (a[1] - b[1]), b[1] + (a[0] - b[0])];
}

/**
 * The reference's get_affine_transform(center, scale, rot, (outWidth, outHeight)) with no shift:
 * the centre goes to the crop's centre, the point 100 scale_w pixels above the centre turned by
 * `rotationDeg` (the reference's get_dir) goes to outWidth / 2 above the crop's centre, and a third
 * point perpendicular to both pins the rest, so the image is shrunk by outWidth / (200 scale_w)
 * and turned by -rotationDeg. Only scale_w counts (boxes are padded to the crop's aspect first).
 * `inverse` gives the crop-to-image transform instead.
 */
export function cropAffine(
  center: readonly [number, number] | readonly number[],
  scale: readonly [number, number] | readonly number[],
  rotationDeg: number,
  outWidth: number,
  outHeight: number,
  inverse = false,
): Affine {
  if (center.length !== 2 || !center.every(Number.isFinite))
    throw invalidArgument('center', center, '[x, y] of finite numbers');
  if (scale.length !== 2 || !(scale[0] > 0) || !Number.isFinite(scale[0]))
    throw invalidArgument('scale', scale, '[width, height] with a positive finite width');
  if (!Number.isFinite(rotationDeg)) throw invalidArgument('rotationDeg', rotationDeg, 'a finite number');
  if (!(outWidth > 0 && outHeight > 0)) {
    throw invalidArgument('outWidth x outHeight', `${outWidth}x${outHeight}`, 'a positive size');
  }
  const srcW = scale[0] * PIXEL_STD;
  const r = (Math.PI * rotationDeg) / 180;
  const [sn, cs] = [Math.sin(r), Math.cos(r)];
  // get_dir([0, -srcW / 2], r)
  const dir: [number, number] = [srcW * 0.5 * sn, -srcW * 0.5 * cs];
  const c: [number, number] = [center[0], center[1]];
  const s1: [number, number] = [c[0] + dir[0], c[1] + dir[1]];
  const d0: [number, number] = [outWidth * 0.5, outHeight * 0.5];
  const d1: [number, number] = [outWidth * 0.5, outHeight * 0.5 - outWidth * 0.5];
  const src = [c, s1, thirdPoint(c, s1)];
  const dst = [d0, d1, thirdPoint(d0, d1)];
  return inverse ? affineFromPoints(dst, src) : affineFromPoints(src, dst);
}

export function applyAffine(t: readonly number[], x: number, y: number): [number, number] {
  return [t[0] * x + t[1] * y + t[2], t[3] * x + t[4] * y + t[5]];
}

export function invertAffine(t: readonly number[]): Affine {
  const [a, b, c, d, e, f] = t;
  const det = a * e - b * d;
  if (det === 0 || !Number.isFinite(det)) throw invalidArgument('t', t, 'an invertible affine transform');
  const [ia, ib, id, ie] = [e / det, -b / det, -d / det, a / det];
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/**
 * Resamples an HWC image through `t` (image to output pixels) as cv2.warpAffine(INTER_LINEAR,
 * BORDER_CONSTANT 0) does: each output pixel (X, Y), at integer coordinates, reads the source at
 * t^-1 (X, Y) bilinearly, every one of the four taps outside the image counting as 0. OpenCV
 * rounds the source position to 1/32 pixel; this does not, so values can differ by a unit.
 * Bytes in, rounded bytes out; floats in, floats out.
 */
export function warpAffine<T extends Uint8Array | Float32Array>(
  pixels: T,
  width: number,
  height: number,
  channels: number,
  t: readonly number[],
  outWidth: number,
  outHeight: number,
): T {
  for (const [field, v] of [
    ['width', width],
    ['height', height],
    ['channels', channels],
    ['outWidth', outWidth],
    ['outHeight', outHeight],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw invalidArgument(field, v, 'a positive integer');
  }
  if (pixels.length !== width * height * channels) {
    throw invalidArgument('pixels', `${pixels.length} values`, `${width}x${height}x${channels} values`);
  }
  const inv = invertAffine(t);
  const bytes = pixels instanceof Uint8Array;
  const out = (
    bytes
      ? new Uint8Array(outWidth * outHeight * channels)
      : new Float32Array(outWidth * outHeight * channels)
  ) as T;
  const acc = new Float64Array(channels);
  for (let oy = 0; oy < outHeight; oy++) {
    for (let ox = 0; ox < outWidth; ox++) {
      const sx = inv[0] * ox + inv[1] * oy + inv[2];
      const sy = inv[3] * ox + inv[4] * oy + inv[5];
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      // Wholly outside: nothing to read (the -1 keeps the half-covered border row).
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue;
      const fx = sx - x0;
      const fy = sy - y0;
      acc.fill(0);
      for (let k = 0; k < 4; k++) {
        const x = x0 + (k & 1);
        const y = y0 + (k >> 1);
        if (x < 0 || y < 0 || x >= width || y >= height) continue;
        const w = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
        if (w === 0) continue;
        const i = (y * width + x) * channels;
        for (let c = 0; c < channels; c++) acc[c] += w * pixels[i + c];
      }
      const o = (oy * outWidth + ox) * channels;
      for (let c = 0; c < channels; c++) {
        const v = acc[c];
        out[o + c] = bytes ? (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v)) : v;
      }
    }
  }
  return out;
}
