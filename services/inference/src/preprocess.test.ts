import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { InvalidArgumentError } from '@rnas/grpc';
import { decodeImage } from './preprocess';

const RGB = { height: 16, width: 16, channels: 3 };
const GREY = { height: 8, width: 12, channels: 1 };
const LIMIT = 25_000_000;

function solid(width: number, height: number, channels: 3 | 4, colour: number[]): ReturnType<typeof sharp> {
  const [r, g, b, alpha = 1] = colour;
  return sharp({ create: { width, height, channels, background: { r, g, b, alpha } } });
}

function noise(width: number, height: number, seed = 1): ReturnType<typeof sharp> {
  const data = Buffer.alloc(width * height * 3);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG whose header announces width x height; its pixel data is a few bytes (a decompression bomb's shape). */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(0, 9); // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function decodeError(bytes: Uint8Array, shape = RGB, limit = LIMIT): Promise<InvalidArgumentError> {
  try {
    await decodeImage(bytes, 'images.images[2]', shape, limit);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error('expected the image to be refused');
}

describe('decodeImage', () => {
  it('decodes a PNG to the model size and channels, any input size', async () => {
    const png = await solid(40, 30, 3, [200, 100, 50]).png().toBuffer();
    const pixels = await decodeImage(png, 'images.images[0]', RGB, LIMIT);
    expect(pixels.length).toBe(16 * 16 * 3);
    for (let i = 0; i < pixels.length; i += 3)
      expect([pixels[i], pixels[i + 1], pixels[i + 2]]).toEqual([200, 100, 50]);
  });

  it('decodes JPEG and WebP to the same size, close to the source colour', async () => {
    for (const bytes of [
      await solid(64, 64, 3, [30, 160, 220]).jpeg({ quality: 95 }).toBuffer(),
      await solid(17, 9, 3, [30, 160, 220]).webp({ quality: 95 }).toBuffer(),
    ]) {
      const pixels = await decodeImage(bytes, 'images.images[0]', RGB, LIMIT);
      expect(pixels.length).toBe(16 * 16 * 3);
      expect(Math.abs(pixels[0] - 30)).toBeLessThan(8);
      expect(Math.abs(pixels[1] - 160)).toBeLessThan(8);
      expect(Math.abs(pixels[2] - 220)).toBeLessThan(8);
    }
  });

  it('gives grayscale models one channel, and RGB models three from a grayscale image', async () => {
    const colour = await solid(20, 20, 3, [90, 90, 90]).png().toBuffer();
    const grey = await decodeImage(colour, 'images.images[0]', GREY, LIMIT);
    expect(grey.length).toBe(8 * 12);
    expect(new Set(grey)).toEqual(new Set([90]));

    const greyPng = await solid(20, 20, 3, [70, 70, 70]).toColourspace('b-w').png().toBuffer();
    expect((await sharp(greyPng).metadata()).channels).toBe(1);
    const rgb = await decodeImage(greyPng, 'images.images[0]', RGB, LIMIT);
    expect(rgb.length).toBe(16 * 16 * 3);
    expect(new Set(rgb)).toEqual(new Set([70]));
  });

  it('composites transparency on black', async () => {
    const transparent = await solid(10, 10, 4, [255, 255, 255, 0]).png().toBuffer();
    expect(new Set(await decodeImage(transparent, 'images.images[0]', RGB, LIMIT))).toEqual(new Set([0]));
  });

  it('covers and centre-crops like the training data: a wide image keeps its middle', async () => {
    // Left third red, middle third green, right third blue: the square crop sees only green.
    const strip = Buffer.alloc(48 * 16 * 3);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 48; x++) strip[(y * 48 + x) * 3 + Math.floor(x / 16)] = 255;
    }
    const png = await sharp(strip, { raw: { width: 48, height: 16, channels: 3 } })
      .png()
      .toBuffer();
    const pixels = await decodeImage(png, 'images.images[0]', RGB, LIMIT);
    const centre = (8 * 16 + 8) * 3;
    expect([pixels[centre], pixels[centre + 1], pixels[centre + 2]]).toEqual([0, 255, 0]);
  });

  it('refuses an empty image, naming the field', async () => {
    const error = await decodeError(new Uint8Array(0));
    expect(error.field).toBe('images.images[2]');
    expect(error.message).toBe('invalid images.images[2]=<0 bytes>: empty image');
  });

  it('refuses bytes that are no image', async () => {
    const error = await decodeError(Buffer.from('definitely not a picture'.repeat(10)));
    expect(error.message).toBe(
      'invalid images.images[2]=<240 bytes>: not a JPEG, PNG or WebP image (unrecognised signature)',
    );
    const fake = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(64, 3),
    ]);
    expect((await decodeError(fake)).message).toMatch(
      /^invalid images\.images\[2\]=<72 bytes>: not a decodable JPEG, PNG or WebP image \(.+\)$/,
    );
  });

  it('refuses a truncated image', async () => {
    const png = await noise(64, 64).png().toBuffer();
    const error = await decodeError(png.subarray(0, Math.floor(png.length / 2)));
    expect(error.message).toMatch(/not a decodable JPEG, PNG or WebP image/);
    const jpeg = await noise(64, 64).jpeg().toBuffer();
    expect((await decodeError(jpeg.subarray(0, Math.floor(jpeg.length / 2)))).message).toMatch(
      /not a decodable/,
    );
  });

  it('refuses other formats by name', async () => {
    const gif = await solid(8, 8, 3, [1, 2, 3]).gif().toBuffer();
    expect((await decodeError(gif)).message).toMatch(
      /format gif is not accepted: expected JPEG, PNG or WebP/,
    );
    const tiff = await solid(8, 8, 3, [1, 2, 3]).tiff().toBuffer();
    expect((await decodeError(tiff)).message).toMatch(/format tiff is not accepted/);
  });

  it('refuses a 20000x20000 image from its header, before decoding', async () => {
    const bomb = pngHeader(20_000, 20_000);
    expect(bomb.length).toBeLessThan(100);
    const started = performance.now();
    const error = await decodeError(bomb);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error.message).toBe(
      `invalid images.images[2]=<${bomb.length} bytes>: 20000x20000 pixels is more than the limit of 25000000 pixels (--max-image-pixels)`,
    );
  });

  it('applies the configured pixel limit to real images', async () => {
    const png = await solid(20, 20, 3, [1, 2, 3]).png().toBuffer();
    expect((await decodeError(png, RGB, 399)).message).toMatch(
      /20x20 pixels is more than the limit of 399 pixels/,
    );
    expect((await decodeImage(png, 'images.images[0]', RGB, 400)).length).toBe(16 * 16 * 3);
  });
});
