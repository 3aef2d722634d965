import sharp from 'sharp';
import type { Detection } from '@rnas/proto';
import { classColour, detectionsSvg, drawDetections } from './draw-detections';

const GREY = 128;

/** A flat grey RGB image as PNG. */
function greyPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: GREY, g: GREY, b: GREY } } })
    .png()
    .toBuffer();
}

async function pixels(
  png: Buffer,
): Promise<{ at(x: number, y: number): number[]; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    at: (x, y) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)),
  };
}

const detection = (classIndex: number, label: string, box: [number, number, number, number]): Detection => ({
  classIndex,
  label,
  score: 0.93,
  box: { xMin: box[0], yMin: box[1], xMax: box[2], yMax: box[3] },
});

const hex = (colour: string): number[] => [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));

describe('drawDetections', () => {
  it("draws each box's edge in its class colour and leaves pixels far from the boxes alone", async () => {
    const png = await drawDetections(await greyPng(200, 160), [
      detection(0, 'square', [40, 60, 120, 140]),
      detection(3, 'circle', [150, 20, 190, 60]),
    ]);
    const image = await pixels(png);
    expect([image.width, image.height]).toEqual([200, 160]);
    // The middle of each box's left edge (stroke 2 px, centred on the edge).
    expect(image.at(40, 100)).toEqual(hex(classColour(0)));
    expect(image.at(150, 40)).toEqual(hex(classColour(3)));
    expect(classColour(0)).not.toBe(classColour(3));
    // Far from any box, and inside a box away from its edges and its tag.
    for (const [x, y] of [
      [5, 155],
      [10, 10],
      [80, 110],
    ])
      expect(image.at(x, y)).toEqual([GREY, GREY, GREY]);
  });

  it('scales boxes given for an image of another size', async () => {
    // Boxes for a 100 x 80 image drawn on the 200 x 160 one: the edge x = 20 lands on x = 40.
    const png = await drawDetections(await greyPng(200, 160), [detection(1, 'a', [20, 30, 60, 70])], {
      width: 100,
      height: 80,
    });
    const image = await pixels(png);
    expect(image.at(40, 100)).toEqual(hex(classColour(1)));
    expect(image.at(20, 100)).toEqual([GREY, GREY, GREY]);
  });

  it('draws nothing for no detections, and refuses bytes that are not an image', async () => {
    const grey = await pixels(await drawDetections(await greyPng(20, 10), []));
    expect(grey.at(10, 5)).toEqual([GREY, GREY, GREY]);
    await expect(drawDetections(Buffer.from('not an image'), [])).rejects.toThrow();
  });
});

describe('detectionsSvg', () => {
  it('escapes labels and draws bad coordinates as 0', () => {
    const svg = detectionsSvg([detection(0, '<script>&"x"</script>', [NaN, 0, Infinity, 5])], 10, 10);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;&amp;&quot;x&quot;&lt;/script&gt;');
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('cuts a huge label short', () => {
    const svg = detectionsSvg([detection(0, 'x'.repeat(100_000), [0, 0, 5, 5])], 10, 10);
    expect(svg.length).toBeLessThan(1000);
  });
});
