// An image with people's poses drawn: an SVG overlay (per person its box, its limbs as lines and
// its keypoints as dots, one colour per person) composited by sharp, written as PNG. Keypoints
// scoring 0.2 or less (the service's threshold of a found keypoint) and their limbs are left out.
import sharp from 'sharp';
import type { PersonPose } from '@rnas/proto';
import { classColour } from './draw-detections';

/** Keypoints scoring at most this are not drawn (PersonPose.score averages those above it). */
export const MIN_KEYPOINT_SCORE = 0.2;

const DOT_FILL = '#ffffff';

/** A number as SVG takes it (NaN and infinities as 0). */
const svgNumber = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 100) / 100) : '0');

/**
 * The overlay for an image of `width` x `height`. Boxes and keypoints are in the pixels of an
 * image of `posesIn` (the size the service reports); they are scaled when the decoded image
 * differs. `skeleton` holds pairs of keypoint indices, flattened; pairs naming no keypoint are
 * skipped.
 */
export function poseSvg(
  people: readonly PersonPose[],
  skeleton: readonly number[],
  width: number,
  height: number,
  posesIn: { width: number; height: number } = { width, height },
): string {
  const sx = posesIn.width > 0 ? width / posesIn.width : 1;
  const sy = posesIn.height > 0 ? height / posesIn.height : 1;
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 150));
  const radius = Math.max(2, Math.round(Math.min(width, height) / 100));
  const shapes = people.map((person, p) => {
    const colour = classColour(p);
    const parts: string[] = [];
    const box = person.box;
    if (box !== undefined) {
      const [x1, y1, x2, y2] = [box.xMin * sx, box.yMin * sy, box.xMax * sx, box.yMax * sy];
      parts.push(
        `<rect x="${svgNumber(x1)}" y="${svgNumber(y1)}" width="${svgNumber(Math.max(0, x2 - x1))}" height="${svgNumber(Math.max(0, y2 - y1))}" fill="none" stroke="${colour}" stroke-width="1" stroke-dasharray="4 2"/>`,
      );
    }
    const found = (i: number): boolean => {
      const k = person.keypoints[i];
      return k !== undefined && k.score > MIN_KEYPOINT_SCORE && Number.isFinite(k.x) && Number.isFinite(k.y);
    };
    for (let l = 0; l + 1 < skeleton.length; l += 2) {
      const [a, b] = [skeleton[l], skeleton[l + 1]];
      if (!found(a) || !found(b)) continue;
      const [ka, kb] = [person.keypoints[a], person.keypoints[b]];
      parts.push(
        `<line x1="${svgNumber(ka.x * sx)}" y1="${svgNumber(ka.y * sy)}" x2="${svgNumber(kb.x * sx)}" y2="${svgNumber(kb.y * sy)}" stroke="${colour}" stroke-width="${stroke}" stroke-linecap="round"/>`,
      );
    }
    person.keypoints.forEach((k, i) => {
      if (!found(i)) return;
      parts.push(
        `<circle cx="${svgNumber(k.x * sx)}" cy="${svgNumber(k.y * sy)}" r="${radius}" fill="${DOT_FILL}" stroke="${colour}" stroke-width="1"/>`,
      );
    });
    return parts.join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
}

/** The image (JPEG, PNG or WebP bytes) with the poses drawn, as PNG. */
export async function drawPoses(
  image: Uint8Array,
  people: readonly PersonPose[],
  skeleton: readonly number[],
  posesIn?: { width: number; height: number },
): Promise<Buffer> {
  const { width, height } = await sharp(image).metadata();
  if (width === undefined || height === undefined) throw new Error('the image has no dimensions');
  const overlay = Buffer.from(poseSvg(people, skeleton, width, height, posesIn));
  return sharp(image)
    .composite([{ input: overlay, top: 0, left: 0 }])
    .png()
    .toBuffer();
}
