// An image with its detections drawn: an SVG overlay (a rectangle per box, one colour per class,
// the label and score on a filled tag) composited by sharp, written as PNG.
import sharp from 'sharp';
import type { Detection } from '@rnas/proto';

/** Tableau's ten colours: distinct on photographs, indexed by class. */
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** The colour of a class. */
export function classColour(classIndex: number): string {
  return PALETTE[Math.abs(Math.trunc(classIndex)) % PALETTE.length];
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Labels come from the service: escaped so that none can break out of the SVG. */
function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

/** A number as SVG takes it (NaN and infinities as 0, so that a bad box draws nothing wide). */
const svgNumber = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 100) / 100) : '0');

/**
 * The overlay for an image of `width` x `height`. Boxes are in the pixels of an image of
 * `boxesIn` (the size the service reports); they are scaled when the decoded image differs.
 */
export function detectionsSvg(
  detections: readonly Detection[],
  width: number,
  height: number,
  boxesIn: { width: number; height: number } = { width, height },
): string {
  const sx = boxesIn.width > 0 ? width / boxesIn.width : 1;
  const sy = boxesIn.height > 0 ? height / boxesIn.height : 1;
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 200));
  const font = Math.max(10, Math.round(Math.min(width, height) / 40));
  const shapes = detections.map((d) => {
    const box = d.box ?? { xMin: 0, yMin: 0, xMax: 0, yMax: 0 };
    const [x1, y1, x2, y2] = [box.xMin * sx, box.yMin * sy, box.xMax * sx, box.yMax * sy];
    const colour = classColour(d.classIndex);
    const text = `${escapeXml(d.label.slice(0, 64))} ${d.score.toFixed(2)}`;
    // The tag sits above the box, or inside it when the box touches the top edge.
    const tagY = y1 - font - 4 >= 0 ? y1 - font - 4 : y1;
    const tagWidth = Math.ceil(text.length * font * 0.6) + 6;
    return [
      `<rect x="${svgNumber(x1)}" y="${svgNumber(y1)}" width="${svgNumber(Math.max(0, x2 - x1))}" height="${svgNumber(Math.max(0, y2 - y1))}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`,
      `<rect x="${svgNumber(x1)}" y="${svgNumber(tagY)}" width="${tagWidth}" height="${font + 4}" fill="${colour}"/>`,
      `<text x="${svgNumber(x1 + 3)}" y="${svgNumber(tagY + font)}" font-family="sans-serif" font-size="${font}" fill="#ffffff">${text}</text>`,
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
}

/** The image (JPEG, PNG or WebP bytes) with `detections` drawn, as PNG. */
export async function drawDetections(
  image: Uint8Array,
  detections: readonly Detection[],
  boxesIn?: { width: number; height: number },
): Promise<Buffer> {
  const { width, height } = await sharp(image).metadata();
  if (width === undefined || height === undefined) throw new Error('the image has no dimensions');
  const overlay = Buffer.from(detectionsSvg(detections, width, height, boxesIn));
  return sharp(image)
    .composite([{ input: overlay, top: 0, left: 0 }])
    .png()
    .toBuffer();
}
