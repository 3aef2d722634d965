import sharp from 'sharp';
import { encodeLabelPng, vocPalette } from '@rnas/data';
import { overlayLabelMap } from './segment-overlay';

const GREY = 128;
const PALETTE = vocPalette();

function greyPng(width: number, height: number, channels: 1 | 3 | 4 = 3): Promise<Buffer> {
  return sharp({
    create: {
      width,
      height,
      channels: channels === 1 ? 3 : channels,
      background: { r: GREY, g: GREY, b: GREY },
    },
  })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .png()
    .toBuffer();
}

async function pixels(
  png: Buffer,
): Promise<{ at(x: number, y: number): number[]; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const c = info.channels;
  return {
    width: info.width,
    height: info.height,
    channels: c,
    at: (x, y) => Array.from(data.subarray((y * info.width + x) * c, (y * info.width + x) * c + 3)),
  };
}

/** A label map: class 0 on the left half, `right` on the top right, 15 on the bottom right. */
function labelMap(width: number, height: number, right = 1): Buffer {
  const indices = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = width / 2; x < width; x++) indices[y * width + x] = y < height / 2 ? right : 15;
  return encodeLabelPng(indices, width, height);
}

const blend = (alpha: number, colour: readonly number[]): number[] =>
  colour.map((c) => Math.round((1 - alpha) * GREY + alpha * c));

describe('overlayLabelMap', () => {
  it("tints each class's pixels with its palette colour, keeps the background and the image's size", async () => {
    const out = await pixels(await overlayLabelMap(await greyPng(40, 30), labelMap(40, 30), 0.5));
    expect([out.width, out.height, out.channels]).toEqual([40, 30, 3]);
    expect(out.at(5, 5)).toEqual([GREY, GREY, GREY]);
    expect(out.at(19, 29)).toEqual([GREY, GREY, GREY]);
    expect(out.at(20, 0)).toEqual(blend(0.5, PALETTE[1]));
    expect(out.at(39, 14)).toEqual(blend(0.5, PALETTE[1]));
    expect(out.at(30, 20)).toEqual(blend(0.5, PALETTE[15]));
    expect(blend(0.5, PALETTE[1])).not.toEqual(blend(0.5, PALETTE[15]));
  });

  it('blends at alpha: 0 gives the image, 1 the class colours', async () => {
    const image = await greyPng(8, 4);
    const none = await pixels(await overlayLabelMap(image, labelMap(8, 4), 0));
    expect(none.at(6, 0)).toEqual([GREY, GREY, GREY]);
    const full = await pixels(await overlayLabelMap(image, labelMap(8, 4), 1));
    expect(full.at(6, 0)).toEqual([...PALETTE[1]]);
    expect(full.at(6, 3)).toEqual([...PALETTE[15]]);
    expect(full.at(0, 0)).toEqual([GREY, GREY, GREY]);
  });

  it("stretches a label map of another size to the image's, without mixing classes", async () => {
    const out = await pixels(await overlayLabelMap(await greyPng(64, 48), labelMap(16, 12, 2), 1));
    expect([out.width, out.height]).toEqual([64, 48]);
    expect(out.at(31, 10)).toEqual([GREY, GREY, GREY]);
    expect(out.at(33, 10)).toEqual([...PALETTE[2]]);
    expect(out.at(63, 47)).toEqual([...PALETTE[15]]);
    // Nearest neighbour: every pixel is the image, or exactly one class colour.
    const allowed = [[GREY, GREY, GREY], [...PALETTE[2]], [...PALETTE[15]]].map(String);
    for (let y = 0; y < 48; y += 3)
      for (let x = 0; x < 64; x += 3) expect(allowed).toContain(String(out.at(x, y)));
  });

  it('takes grey, RGBA and JPEG images, and writes RGB', async () => {
    for (const image of [
      await greyPng(12, 10, 1),
      await greyPng(12, 10, 4),
      await sharp(await greyPng(12, 10))
        .jpeg({ quality: 100 })
        .toBuffer(),
    ]) {
      const out = await pixels(await overlayLabelMap(image, labelMap(12, 10), 1));
      expect([out.width, out.height, out.channels]).toEqual([12, 10, 3]);
      expect(out.at(8, 1)).toEqual([...PALETTE[1]]);
      for (const c of out.at(1, 1)) expect(Math.abs(c - GREY)).toBeLessThanOrEqual(2);
    }
  });

  it('refuses a label map or an image that is not one, and an alpha outside [0, 1]', async () => {
    const image = await greyPng(8, 4);
    await expect(overlayLabelMap(image, Buffer.from('not a png'))).rejects.toThrow(
      /^the label map is not an image/,
    );
    await expect(overlayLabelMap(image, Buffer.alloc(0))).rejects.toThrow(/^the label map is not an image/);
    await expect(overlayLabelMap(Buffer.from('nope'), labelMap(8, 4))).rejects.toThrow();
    for (const alpha of [-0.1, 1.5, NaN])
      await expect(overlayLabelMap(image, labelMap(8, 4), alpha)).rejects.toThrow(
        `alpha: expected a number in [0, 1], got ${alpha}`,
      );
  });
});
