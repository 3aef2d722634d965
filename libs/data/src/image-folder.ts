import { promises as fs, type Dirent } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { DataError, DataFormatError, invalidArgument } from './errors';
import { exists, type LoadContext } from './files';
import { imageBytes, type ImageShape, type LabelledImages } from './split';

/**
 * Image folders as torchvision's ImageFolder reads them: one subfolder per class, named after it.
 * A dataset folder either holds `train/` (and optionally `test/` or `val/`) with class folders in
 * each, or holds the class folders directly (then it is all training data and the test split is
 * empty). Images are decoded with sharp, composited on black where they have alpha, and resized
 * to the requested size (scaled to cover it, then centre-cropped).
 */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];
export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** libvips refuses larger inputs before decoding them: a decompression bomb costs nothing. */
const MAX_INPUT_PIXELS = 64 * 1024 * 1024;
/** Images decoded at once; sharp runs each on its own libvips thread. */
const DECODE_CONCURRENCY = 4;

interface ClassFolder {
  name: string;
  files: string[];
}

function visible(entry: Dirent): boolean {
  return !entry.name.startsWith('.');
}

async function listClassFolders(ctx: LoadContext, dir: string): Promise<ClassFolder[]> {
  const entries = (await fs.readdir(dir, { withFileTypes: true })).filter(visible);
  const folders: ClassFolder[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const full = path.join(dir, entry.name);
    const real = ctx.roots === undefined ? full : await ctx.roots.check(ctx.uri, full);
    if (!(await fs.stat(real)).isDirectory()) continue;
    const files = (await fs.readdir(real, { withFileTypes: true }))
      .filter((f) => visible(f) && IMAGE_EXTENSIONS.includes(path.extname(f.name).toLowerCase()))
      .map((f) => f.name)
      .sort()
      .map((name) => path.join(full, name));
    if (files.length === 0) {
      throw new DataFormatError(
        full,
        undefined,
        `a class folder with at least one ${IMAGE_EXTENSIONS.join('/')} image`,
        'an empty folder',
      );
    }
    folders.push({ name: entry.name, files });
  }
  if (folders.length === 0) {
    throw new DataFormatError(dir, undefined, 'one subfolder of images per class', 'no class folders');
  }
  return folders;
}

/** Decodes one image file to `shape` (uint8, HWC). */
export async function decodeImageFile(file: string, shape: ImageShape): Promise<Uint8Array> {
  const [height, width, channels] = shape;
  const { data, info } = await sharp(file, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'warning' })
    .resize(width, height, { fit: 'cover' })
    .flatten({ background: '#000000' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch((err: unknown) => {
      throw new DataFormatError(
        file,
        undefined,
        'a decodable JPEG, PNG or WebP image',
        `sharp error "${(err as Error).message}"`,
      );
    });
  if (info.width !== width || info.height !== height || info.channels !== channels) {
    throw new DataFormatError(
      file,
      undefined,
      `an image decoded to ${height}x${width}x${channels}`,
      `${info.height}x${info.width}x${info.channels}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

async function loadFolders(
  ctx: LoadContext,
  folders: ClassFolder[],
  classIndex: Map<string, number>,
  shape: ImageShape,
): Promise<LabelledImages> {
  const files = folders.flatMap((f) =>
    f.files.map((file) => ({ file, label: classIndex.get(f.name) as number })),
  );
  const per = imageBytes(shape);
  if (files.length * per > ctx.maxFileBytes) {
    throw new DataError(
      'RESOURCE_EXHAUSTED',
      `dataset URI ${JSON.stringify(ctx.uri)}: ${files.length} images of ${shape.join('x')} need ` +
        `${files.length * per} bytes, more than the limit of ${ctx.maxFileBytes}`,
    );
  }
  const images = new Uint8Array(files.length * per);
  const labels = Int32Array.from(files, (f) => f.label);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const real = ctx.roots === undefined ? files[i].file : await ctx.roots.check(ctx.uri, files[i].file);
      images.set(await decodeImageFile(real, shape), i * per);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, files.length) }, worker));
  return { imageShape: shape, images, labels };
}

export async function loadImageFolder(
  ctx: LoadContext,
  dir: string,
  shape: ImageShape,
): Promise<{ train: LabelledImages; test: LabelledImages; classNames: string[] }> {
  const trainDir = path.join(dir, 'train');
  const split = await exists(trainDir);
  const trainFolders = await listClassFolders(ctx, split ? trainDir : dir);
  const classNames = trainFolders.map((f) => f.name);
  const classIndex = new Map(classNames.map((name, i) => [name, i]));
  let testFolders: ClassFolder[] = [];
  if (split) {
    for (const name of ['test', 'val']) {
      if (await exists(path.join(dir, name))) {
        testFolders = await listClassFolders(ctx, path.join(dir, name));
        break;
      }
    }
  }
  for (const folder of testFolders) {
    if (!classIndex.has(folder.name)) {
      throw new DataFormatError(
        path.dirname(folder.files[0]),
        undefined,
        `a class of the training folder (${classNames.join(', ')})`,
        JSON.stringify(folder.name),
      );
    }
  }
  const train = await loadFolders(ctx, trainFolders, classIndex, shape);
  const test = await loadFolders(ctx, testFolders, classIndex, shape);
  return { train, test, classNames };
}

export interface WriteImageFolderOptions {
  /** Formats used in turn, image by image; default ['png']. PNG and lossless WebP are exact. */
  formats?: readonly ImageFormat[];
}

function checkFolderName(field: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.startsWith('.') || /[/\\\0]/.test(name)) {
    throw invalidArgument(field, name, 'a folder name (non-empty, no slash, not starting with a dot)');
  }
}

/** Writes `dir/train/<class>/<n>.<ext>` (and `dir/test/...` when the test split has images). */
export async function writeImageFolder(
  dir: string,
  data: { train: LabelledImages; test: LabelledImages; classNames: readonly string[] },
  options: WriteImageFolderOptions = {},
): Promise<string[]> {
  const formats = options.formats ?? ['png'];
  if (formats.length === 0) throw invalidArgument('formats', formats, 'at least one image format');
  data.classNames.forEach((name, i) => checkFolderName(`classNames[${i}]`, name));
  const written: string[] = [];
  let n = 0;
  for (const [splitName, split] of [
    ['train', data.train],
    ['test', data.test],
  ] as const) {
    const [height, width, channels] = split.imageShape;
    const per = imageBytes(split.imageShape);
    for (let i = 0; i < split.labels.length; i++) {
      const label = split.labels[i];
      const className = data.classNames[label];
      if (className === undefined) {
        throw invalidArgument(
          `${splitName}.labels[${i}]`,
          label,
          `a class index in [0, ${data.classNames.length - 1}]`,
        );
      }
      const format = formats[n++ % formats.length];
      const folder = path.join(dir, splitName, className);
      await fs.mkdir(folder, { recursive: true });
      const pixels = sharp(split.images.subarray(i * per, (i + 1) * per), {
        raw: { width, height, channels: channels as 1 | 3 },
      });
      const encoded =
        format === 'png'
          ? pixels.png()
          : format === 'webp'
            ? pixels.webp({ lossless: true })
            : pixels.jpeg({ quality: 95, chromaSubsampling: '4:4:4' });
      const file = path.join(folder, `${String(i).padStart(6, '0')}.${format === 'jpeg' ? 'jpg' : format}`);
      await encoded.toFile(file);
      written.push(file);
    }
  }
  return written;
}
