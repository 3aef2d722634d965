import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeDetectionImage } from './decode';
import { AnnotationError, type DetectionImage } from './types';

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-decode-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const image = (file: string, width: number, height: number): DetectionImage => ({
  id: path.basename(file),
  file,
  width,
  height,
  objects: [],
});

describe('decodeDetectionImage', () => {
  it('turns an image upright by its EXIF orientation', async () => {
    // Stored 20 wide and 10 high, left half red; orientation 6 shows it rotated 90 degrees clockwise.
    const raw = Buffer.alloc(20 * 10 * 3);
    for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) raw.set([255, 0, 0], (y * 20 + x) * 3);
    const file = path.join(root, 'rotated.png');
    await sharp(raw, { raw: { width: 20, height: 10, channels: 3 } })
      .withMetadata({ orientation: 6 })
      .png()
      .toFile(file);
    const out = await decodeDetectionImage(image(file, 10, 20));
    expect([out.width, out.height, out.pixels.length]).toEqual([10, 20, 600]);
    // The stored left half is now the top half.
    expect(Array.from(out.pixels.subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(out.pixels.subarray((19 * 10 + 9) * 3, (19 * 10 + 9) * 3 + 3))).toEqual([0, 0, 0]);
    await expect(decodeDetectionImage(image(file, 20, 10))).rejects.toThrow(
      /rotated\.png \(image "rotated\.png"\): expected the 20x10 \(width x height\) its annotation gives, got 10x20/,
    );
  });

  it('drops alpha and expands greyscale to RGB', async () => {
    const rgba = path.join(root, 'alpha.png');
    await sharp({
      create: { width: 4, height: 3, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } },
    })
      .png()
      .toFile(rgba);
    const a = await decodeDetectionImage(image(rgba, 4, 3));
    expect(Array.from(a.pixels.subarray(0, 3))).toEqual([10, 20, 30]);
    expect(a.pixels.length).toBe(36);
    const grey = path.join(root, 'grey.png');
    await sharp(Buffer.alloc(6, 77), { raw: { width: 3, height: 2, channels: 1 } })
      .png()
      .toFile(grey);
    const g = await decodeDetectionImage(image(grey, 3, 2));
    expect(Array.from(g.pixels)).toEqual(new Array(18).fill(77));
  });

  it('refuses a corrupt file, a truncated JPEG and an image over the pixel limit, naming the file', async () => {
    const bad = path.join(root, 'bad.jpg');
    await fs.writeFile(bad, 'not an image');
    const err = await decodeDetectionImage(image(bad, 1, 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnnotationError);
    expect((err as AnnotationError).code).toBe('FAILED_PRECONDITION');
    expect((err as Error).message).toMatch(/bad\.jpg: expected a decodable image, got sharp error/);
    const full = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#123456' } })
      .jpeg()
      .toBuffer();
    const truncated = path.join(root, 'truncated.jpg');
    await fs.writeFile(truncated, full.subarray(0, full.length - 40));
    await expect(decodeDetectionImage(image(truncated, 32, 32))).rejects.toThrow(
      /truncated\.jpg: expected a decodable image/,
    );
    const big = path.join(root, 'big.jpg');
    await fs.writeFile(big, full);
    await expect(decodeDetectionImage(image(big, 32, 32), 100)).rejects.toThrow(
      /big\.jpg: expected a decodable image, got sharp error ".*pixel limit/,
    );
    await expect(decodeDetectionImage(image(big, 32, 32), 0)).rejects.toThrow(
      /maxPixels: expected an integer/,
    );
  });
});
