// Synthetic detection data in the real VOC and COCO layouts: several shapes per image over a
// textured background, the class given by the shape alone (every class is drawn in every colour),
// so a small SSDLite at 128 x 128 learns it in minutes while the loaders read real files.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import XMLBuilder from 'fast-xml-builder';
import sharp from 'sharp';
import { checkInt, invalidArgument } from '../errors';
import { Rng } from '../rng';

/** Class names in order; `classes` takes the first few (default 3). */
export const DETECTION_SHAPES: readonly string[] = [
  'circle',
  'square',
  'triangle',
  'diamond',
  'cross',
  'ring',
];

export interface DetectionShapesOptions {
  format: 'voc' | 'coco';
  train: number;
  test: number;
  /** Image side in pixels. */
  size: number;
  seed: number;
  /** Number of shape classes, 1 to 6 (default 3: circle, square, triangle). */
  classes?: number;
  /** Objects per image are 1 to maxObjects (default 4), plus now and then a tiny difficult one. */
  maxObjects?: number;
}

/** Bright, saturated colours shared by every class, against backgrounds kept dark. */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [235, 70, 60],
  [70, 205, 90],
  [80, 130, 245],
  [240, 215, 70],
  [225, 95, 225],
  [90, 225, 225],
  [240, 240, 240],
];

/** A drawn object: its class, pixel-index box (first and last pixel covered) and whether it is a tiny difficult one. */
export interface DrawnObject {
  classIndex: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  difficult: boolean;
}

export interface DrawnImage {
  pixels: Uint8Array;
  objects: DrawnObject[];
  /** Per pixel, the index in `objects` of the shape drawn there, or -1 for the background. */
  owner: Int16Array;
}

/** Whether (u, v) in [-1, 1]^2 (the shape's box) lies in shape k. */
function insideShape(k: number, u: number, v: number): boolean {
  const au = Math.abs(u);
  const av = Math.abs(v);
  switch (k) {
    case 0:
      return u * u + v * v <= 1;
    case 1:
      return au <= 1 && av <= 1;
    case 2:
      // Apex up, base at the bottom edge.
      return v >= -1 && v <= 1 && au <= (v + 1) / 2;
    case 3:
      return au + av <= 1;
    case 4:
      return (au <= 0.34 && av <= 1) || (av <= 0.34 && au <= 1);
    default: {
      const r = u * u + v * v;
      return r <= 1 && r >= 0.3;
    }
  }
}

const MIN_VISIBLE = 0.5;

/**
 * A dark textured background, size x size RGB floats (not clamped): a base colour, two slow waves
 * and per-pixel noise; every channel stays under about 130, below the bright palette drawn on it.
 */
export function texturedBackground(rng: Rng, size: number): Float32Array {
  const canvas = new Float32Array(size * size * 3);
  const base = [0, 1, 2].map(() => 25 + 70 * rng.nextFloat());
  const waves = [0, 1].map(() => ({
    fx: (rng.nextFloat() - 0.5) * 0.4,
    fy: (rng.nextFloat() - 0.5) * 0.4,
    phase: rng.nextFloat() * 2 * Math.PI,
    amp: 8 + 10 * rng.nextFloat(),
  }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let t = 0;
      for (const w of waves) t += w.amp * Math.sin(w.fx * x + w.fy * y + w.phase);
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) canvas[o + c] = base[c] + t + (rng.nextFloat() - 0.5) * 30;
    }
  }
  return canvas;
}

/**
 * One RGB image (HWC, `size` square) of 1 to `maxObjects` shapes over a textured background, plus
 * now and then (when `tiny`) a tiny difficult one. Shared with the segmentation shapes, which
 * take their masks from `owner`.
 */
export function drawImage(
  rng: Rng,
  size: number,
  classes: number,
  maxObjects: number,
  tiny = true,
): DrawnImage {
  const n = size * size;
  const canvas = texturedBackground(rng, size);
  const owner = new Int16Array(n).fill(-1);
  const total: number[] = [];
  const visible: number[] = [];
  const objects: DrawnObject[] = [];
  const colours: number[][] = [];
  const used = new Set<(typeof PALETTE)[number]>();
  const place = (difficult: boolean): void => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const classIndex = rng.nextInt(classes);
      // A colour not yet in the image while any is left, so touching shapes do not merge.
      const unused = PALETTE.filter((c) => !used.has(c));
      const choices = unused.length > 0 ? unused : PALETTE;
      const colour = choices[rng.nextInt(choices.length)];
      const gain = 0.85 + 0.15 * rng.nextFloat();
      const side = difficult
        ? Math.max(4, (0.06 + 0.04 * rng.nextFloat()) * size)
        : (0.2 + 0.4 * rng.nextFloat()) * size;
      const aspect = Math.sqrt(0.8 + 0.45 * rng.nextFloat());
      const w = Math.min(size - 1, side * aspect);
      const h = Math.min(size - 1, side / aspect);
      const cx = w / 2 + rng.nextFloat() * (size - w);
      const cy = h / 2 + rng.nextFloat() * (size - h);
      const mask: number[] = [];
      let x0 = size;
      let y0 = size;
      let x1 = -1;
      let y1 = -1;
      for (let y = Math.max(0, Math.floor(cy - h / 2)); y < Math.min(size, Math.ceil(cy + h / 2)); y++) {
        for (let x = Math.max(0, Math.floor(cx - w / 2)); x < Math.min(size, Math.ceil(cx + w / 2)); x++) {
          if (!insideShape(classIndex, (x + 0.5 - cx) / (w / 2), (y + 0.5 - cy) / (h / 2))) continue;
          mask.push(y * size + x);
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
      if (mask.length < 6 || x1 - x0 < 2 || y1 - y0 < 2) continue;
      // Every earlier object must stay at least half visible under the new one.
      const covered = new Array<number>(objects.length).fill(0);
      for (const p of mask) if (owner[p] >= 0) covered[owner[p]]++;
      if (covered.some((c, j) => visible[j] - c < MIN_VISIBLE * total[j])) continue;
      covered.forEach((c, j) => (visible[j] -= c));
      const k = objects.length;
      for (const p of mask) owner[p] = k;
      total.push(mask.length);
      visible.push(mask.length);
      objects.push({ classIndex, x0, y0, x1, y1, difficult });
      used.add(colour);
      colours.push(colour.map((v) => v * gain));
      return;
    }
  };
  const count = 1 + rng.nextInt(maxObjects);
  for (let i = 0; i < count; i++) place(false);
  if (tiny && rng.nextFloat() < 0.15) place(true);
  const pixels = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const k = owner[p];
    for (let c = 0; c < 3; c++) {
      const v = k >= 0 ? colours[k][c] + (rng.nextFloat() - 0.5) * 20 : canvas[p * 3 + c];
      pixels[p * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return { pixels, objects, owner };
}

/** One split to write: images are drawn one at a time, in order, from the shared generator. */
interface Split {
  name: 'train' | 'val';
  count: number;
  draw: () => DrawnImage;
}

/** The JPEG settings of every synthetic set: high quality, no chroma subsampling (thin coloured edges survive). */
export function jpeg(pixels: Uint8Array, size: number): ReturnType<typeof sharp> {
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).jpeg({
    quality: 92,
    chromaSubsampling: '4:4:4',
  });
}

const xml = new XMLBuilder({ format: true, indentBy: '  ' });

async function writeVoc(
  dir: string,
  size: number,
  classNames: string[],
  splits: readonly Split[],
): Promise<string> {
  for (const sub of ['Annotations', 'JPEGImages', path.join('ImageSets', 'Main')])
    await fs.mkdir(path.join(dir, sub), { recursive: true });
  await fs.writeFile(path.join(dir, 'labels.txt'), `${classNames.join(',')}\n`);
  let next = 1;
  for (const { name: split, count, draw } of splits) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const image = draw();
      const id = String(next++).padStart(6, '0');
      ids.push(id);
      await jpeg(image.pixels, size).toFile(path.join(dir, 'JPEGImages', `${id}.jpg`));
      const annotation = {
        annotation: {
          folder: path.basename(dir),
          filename: `${id}.jpg`,
          size: { width: size, height: size, depth: 3 },
          segmented: 0,
          // VOC is 1-based: the first and last pixel covered, plus 1.
          object: image.objects.map((o) => ({
            name: classNames[o.classIndex],
            pose: 'Unspecified',
            truncated: 0,
            difficult: o.difficult ? 1 : 0,
            bndbox: { xmin: o.x0 + 1, ymin: o.y0 + 1, xmax: o.x1 + 1, ymax: o.y1 + 1 },
          })),
        },
      };
      await fs.writeFile(path.join(dir, 'Annotations', `${id}.xml`), xml.build(annotation));
    }
    await fs.writeFile(path.join(dir, 'ImageSets', 'Main', `${split}.txt`), `${ids.join('\n')}\n`);
  }
  return `voc:${dir}`;
}

async function writeCoco(
  dir: string,
  size: number,
  classNames: string[],
  splits: readonly Split[],
): Promise<string> {
  await fs.mkdir(path.join(dir, 'annotations'), { recursive: true });
  let imageId = 1;
  let annotationId = 1;
  const jsons: string[] = [];
  for (const { name: split, count, draw } of splits) {
    await fs.mkdir(path.join(dir, split), { recursive: true });
    const cocoImages = [];
    const annotations = [];
    for (let i = 0; i < count; i++) {
      const image = draw();
      const id = imageId++;
      const fileName = `${String(id).padStart(6, '0')}.jpg`;
      await jpeg(image.pixels, size).toFile(path.join(dir, split, fileName));
      cocoImages.push({ id, file_name: fileName, width: size, height: size });
      for (const o of image.objects) {
        // The same pixel-index box VOC holds (after its minus 1), so both formats read back alike.
        const bbox = [o.x0, o.y0, o.x1 - o.x0, o.y1 - o.y0];
        annotations.push({
          id: annotationId++,
          image_id: id,
          category_id: o.classIndex + 1,
          bbox,
          area: bbox[2] * bbox[3],
          // COCO has no "difficult": crowd is its ignored-in-training-and-evaluation marker.
          iscrowd: o.difficult ? 1 : 0,
          segmentation: [],
        });
      }
    }
    const categories = classNames.map((name, i) => ({ id: i + 1, name, supercategory: 'shape' }));
    const json = path.join(dir, 'annotations', `instances_${split}.json`);
    await fs.writeFile(json, JSON.stringify({ images: cocoImages, annotations, categories }));
    jsons.push(json);
  }
  const q = (v: string): string => encodeURIComponent(v);
  return `coco:${jsons[0]}?images=${q(path.join(dir, 'train'))}&test=${q(jsons[1])}&test_images=${q(path.join(dir, 'val'))}`;
}

/**
 * Writes a synthetic detection dataset into `dir` (VOC: Annotations, JPEGImages,
 * ImageSets/Main/train.txt and val.txt, labels.txt; COCO: annotations/instances_{train,val}.json
 * with train/ and val/ image folders) and returns the URI that opens it. The same options draw the
 * same images and boxes in either format. Tiny objects (about 8% of the side, in some 15% of
 * images) are marked difficult in VOC and crowd in COCO: both formats leave them out of training
 * and evaluation alike.
 */
export async function writeDetectionShapes(
  dir: string,
  options: DetectionShapesOptions,
): Promise<{ uri: string }> {
  if (options === null || typeof options !== 'object') throw invalidArgument('options', options, 'an object');
  if (options.format !== 'voc' && options.format !== 'coco')
    throw invalidArgument('format', options.format, 'voc or coco');
  const train = checkInt('train', options.train, 1, 100_000);
  const test = checkInt('test', options.test, 1, 100_000);
  const size = checkInt('size', options.size, 32, 1024);
  const seed = checkInt('seed', options.seed, 0, Number.MAX_SAFE_INTEGER);
  const classes = checkInt('classes', options.classes ?? 3, 1, DETECTION_SHAPES.length);
  const maxObjects = checkInt('maxObjects', options.maxObjects ?? 4, 1, 16);
  // '?' would end the URI's path.
  if (typeof dir !== 'string' || dir === '' || /[\0?]/.test(dir)) {
    throw invalidArgument('dir', dir, "a directory path (without NUL or '?')");
  }
  const root = path.resolve(dir);
  const rng = Rng.fromSeed(seed);
  const draw = (): DrawnImage => drawImage(rng, size, classes, maxObjects);
  const splits: readonly Split[] = [
    { name: 'train', count: train, draw },
    { name: 'val', count: test, draw },
  ];
  const classNames = DETECTION_SHAPES.slice(0, classes);
  const uri =
    options.format === 'voc'
      ? await writeVoc(root, size, classNames, splits)
      : await writeCoco(root, size, classNames, splits);
  return { uri };
}
