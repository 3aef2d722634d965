// COCO instances JSON (`instances_train2017.json`): `images` (id, file_name, width, height),
// `annotations` (image_id, category_id, bbox as x,y,w,h, iscrowd) and `categories` (id, name).
// Categories sorted by id give the class names, so class index = position (COCO's 80 ids have
// gaps up to 90); images are ordered by id.
import * as path from 'node:path';
import { z } from 'zod';
import type { LoadContext } from '../files';
import { checkImageFile, mapPool, readText } from './files';
import {
  AnnotationError,
  checkedBox,
  type DetectionImage,
  type LoadedDetection,
  type ObjectBox,
} from './types';

export const cocoId = z
  .number({ error: 'expected an integer id' })
  .int({ error: 'expected an integer id' })
  .min(0, { error: 'expected an integer id' });
export const cocoSide = z
  .number({ error: 'expected an integer in [1, 65535]' })
  .int({ error: 'expected an integer in [1, 65535]' })
  .min(1, { error: 'expected an integer in [1, 65535]' })
  .max(65535, { error: 'expected an integer in [1, 65535]' });
export const cocoFinite = z
  .number({ error: 'expected a finite number' })
  .refine(Number.isFinite, { error: 'expected a finite number' });

/** COCO's `images`, as both the instances and the person-keypoints files have them. */
export const cocoImagesSchema = z.array(
  z.object({
    id: cocoId,
    file_name: z
      .string({ error: 'expected a relative file path' })
      .min(1, { error: 'expected a relative file path' })
      .max(4096, { error: 'expected a relative file path of at most 4096 characters' })
      .refine((s) => !s.includes('\0'), { error: 'expected a file path without NUL' }),
    width: cocoSide,
    height: cocoSide,
  }),
  { error: 'expected an array of images' },
);

// Unknown fields (segmentation, area, licenses, info) are allowed and dropped.
const CocoSchema = z.object({
  images: cocoImagesSchema,
  annotations: z.array(
    z.object({
      // Kept for messages only.
      id: z.unknown().optional(),
      image_id: cocoId,
      category_id: cocoId,
      bbox: z.tuple([cocoFinite, cocoFinite, cocoFinite, cocoFinite], {
        error: 'expected [x, y, width, height]',
      }),
      iscrowd: z.union([z.literal(0), z.literal(1)], { error: 'expected 0 or 1' }).optional(),
    }),
    { error: 'expected an array of annotations' },
  ),
  categories: z
    .array(
      z.object({
        id: cocoId,
        name: z
          .string({ error: 'expected a name' })
          .min(1, { error: 'expected a name' })
          .max(256, { error: 'expected a name of at most 256 characters' }),
      }),
      { error: 'expected an array of categories' },
    )
    .min(1, { error: 'expected at least one category' }),
});
type CocoFile = z.infer<typeof CocoSchema>;

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? typeof v : s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

/**
 * Parses a JSON file and validates it against a zod schema; the first problem becomes an error
 * naming the file, the field (with the id of the array element it sits in) and the value.
 * Shared by the COCO instances and person-keypoints readers.
 */
export function parseJsonWith<T>(schema: z.ZodType<T>, file: string, json: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new AnnotationError(file, undefined, 'valid JSON', JSON.stringify((err as Error).message));
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  let v: unknown = raw;
  let owner: unknown;
  for (const [i, k] of issue.path.entries()) {
    if (i === 2) owner = v;
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  }
  if (issue.path.length === 2) owner = v;
  const where = issue.path
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
    .join('')
    .slice(1);
  const ownerId = owner !== null && typeof owner === 'object' ? (owner as { id?: unknown }).id : undefined;
  const idNote = typeof ownerId === 'number' ? ` (id ${ownerId})` : '';
  throw new AnnotationError(
    file,
    where === '' ? undefined : `${where}${idNote}`,
    issue.message.replace(/^expected /, ''),
    describe(v),
  );
}

/** Parses and validates one instances JSON; errors name the file, the field (with the element's id) and the value. */
export function parseCocoJson(file: string, json: string): CocoFile {
  return parseJsonWith(CocoSchema, file, json);
}

/** How an annotation is named in messages: its index and, when it has one, its id. */
export function annotationWhere(index: number, id: unknown): string {
  return `annotations[${index}]${id === undefined ? '' : ` (id ${describe(id)})`}`;
}

/** A split's images sorted by id; repeated ids and an empty list are errors naming the file. */
export function sortedCocoImages<T extends { id: number }>(file: string, images: readonly T[]): T[] {
  const sorted = [...images].sort((a, b) => a.id - b.id);
  sorted.forEach((image, i) => {
    if (i > 0 && sorted[i - 1].id === image.id)
      throw new AnnotationError(file, `image id ${image.id}`, 'distinct image ids', 'it twice');
  });
  if (sorted.length === 0) throw new AnnotationError(file, 'images', 'at least one image', 'an empty list');
  return sorted;
}

/**
 * The real path of the image a COCO `images[i]` names: a relative path that stays inside the
 * split's image folder, of a regular file under the data roots (NOT_FOUND when missing).
 */
export async function cocoImageFile(
  ctx: LoadContext,
  split: CocoSplit,
  image: { id: number; file_name: string },
  index: number,
): Promise<string> {
  const location = `images[${index}] (id ${image.id}) file_name`;
  const name = image.file_name;
  const full = path.resolve(split.images, name);
  const rel = path.relative(split.images, full);
  if (
    path.isAbsolute(name) ||
    rel === '' ||
    rel === '..' ||
    rel.startsWith(`..${path.sep}`) ||
    path.isAbsolute(rel)
  ) {
    throw new AnnotationError(split.json, location, `a path inside ${split.images}`, JSON.stringify(name));
  }
  return checkImageFile(ctx, full, { file: split.json, location });
}

/** Category ids and names, sorted by id; repeated ids or names are errors. */
function categoriesOf(file: string, coco: CocoFile): { ids: number[]; names: string[] } {
  const sorted = [...coco.categories].sort((a, b) => a.id - b.id);
  sorted.forEach((c, i) => {
    if (i > 0 && sorted[i - 1].id === c.id)
      throw new AnnotationError(file, `category id ${c.id}`, 'distinct category ids', 'it twice');
  });
  const names = sorted.map((c) => c.name);
  if (new Set(names).size !== names.length) {
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    throw new AnnotationError(
      file,
      'categories',
      'distinct category names',
      `${JSON.stringify(twice)} twice`,
    );
  }
  return { ids: sorted.map((c) => c.id), names };
}

export interface CocoSplit {
  /** The instances JSON (real path under the roots). */
  json: string;
  /** The folder image file names are relative to. */
  images: string;
}

async function loadSplit(
  ctx: LoadContext,
  split: CocoSplit,
  categories?: { ids: number[]; names: string[] },
): Promise<{ categories: { ids: number[]; names: string[] }; images: DetectionImage[] }> {
  const file = split.json;
  const coco = parseCocoJson(file, await readText(file, ctx.maxFileBytes));
  const own = categoriesOf(file, coco);
  if (categories !== undefined && own.ids.join() !== categories.ids.join()) {
    throw new AnnotationError(
      file,
      'categories',
      `the training split's category ids (${categories.ids.join(', ')})`,
      own.ids.join(', '),
    );
  }
  const index = new Map(own.ids.map((cid, i) => [cid, i]));
  const images = sortedCocoImages(file, coco.images);
  const byId = new Map<number, { width: number; height: number; objects: ObjectBox[] }>();
  for (const image of images) byId.set(image.id, { width: image.width, height: image.height, objects: [] });
  coco.annotations.forEach((a, i) => {
    const where = annotationWhere(i, a.id);
    const image = byId.get(a.image_id);
    if (image === undefined)
      throw new AnnotationError(
        file,
        `${where}.image_id`,
        'the id of an image in images',
        String(a.image_id),
      );
    const classIndex = index.get(a.category_id);
    if (classIndex === undefined) {
      throw new AnnotationError(
        file,
        `${where}.category_id`,
        `a category id among ${own.ids.join(', ')}`,
        String(a.category_id),
      );
    }
    const [x, y, w, h] = a.bbox;
    const box = checkedBox(
      file,
      `${where}.bbox`,
      { xMin: x, yMin: y, xMax: x + w, yMax: y + h },
      image.width,
      image.height,
    );
    image.objects.push({ ...box, classIndex, difficult: false, crowd: a.iscrowd === 1 });
  });
  const found = await mapPool(images, async (image, i) => {
    const real = await cocoImageFile(ctx, split, image, i);
    const { width, height, objects } = byId.get(image.id) as {
      width: number;
      height: number;
      objects: ObjectBox[];
    };
    return { id: String(image.id), file: real, width, height, objects };
  });
  return { categories: own, images: found };
}

/** Reads both splits of a COCO dataset; the test split must have the training split's categories. */
export async function loadCoco(
  ctx: LoadContext,
  train: CocoSplit,
  test: CocoSplit,
): Promise<LoadedDetection> {
  const t = await loadSplit(ctx, train);
  const v = await loadSplit(ctx, test, t.categories);
  return { classNames: t.categories.names, train: t.images, test: v.images };
}
