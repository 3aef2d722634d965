// COCO person keypoints JSON (`person_keypoints_train2017.json`): the instances layout plus, on the
// person category, `keypoints` (names) and `skeleton` (1-based limbs), and on each annotation
// `keypoints` (x, y, v per keypoint) and `num_keypoints`. Read as the reference reads it
// (`P/dataset/coco.py:82,130-201`): non-crowd persons with at least one labelled keypoint, each box
// clipped to its image. Everything else a file may hold is checked, not trusted.
import { z } from 'zod';
import {
  annotationWhere,
  cocoFinite,
  cocoId,
  cocoImageFile,
  cocoImagesSchema,
  type CocoSplit,
  parseJsonWith,
  sortedCocoImages,
} from '../detection/coco';
import { mapPool, readText } from '../detection/files';
import { AnnotationError, checkedBox } from '../detection/types';
import type { LoadContext } from '../files';
import { defaultOksSigmas, flipPairsFromNames, type KeypointPair, type PersonInstance } from './types';

/** Most keypoints a category may name (as many as a KeypointConfig takes). */
export const MAX_DATASET_KEYPOINTS = 100;

const count = z
  .number({ error: 'expected a non-negative integer' })
  .int({ error: 'expected a non-negative integer' })
  .min(0, { error: 'expected a non-negative integer' });
const pairList = z
  .array(z.tuple([count, count], { error: 'expected [a, b] (1-based keypoint numbers)' }), {
    error: 'expected an array of [a, b] pairs',
  })
  .max(10_000, { error: 'expected at most 10000 pairs' })
  .optional();

// Unknown fields (segmentation, licenses, info, supercategory) are allowed and dropped.
const KeypointsSchema = z.object({
  images: cocoImagesSchema,
  annotations: z.array(
    z.object({
      // Kept for messages and PersonInstance.id.
      id: z.unknown().optional(),
      image_id: cocoId,
      category_id: cocoId,
      bbox: z.tuple([cocoFinite, cocoFinite, cocoFinite, cocoFinite], {
        error: 'expected [x, y, width, height]',
      }),
      iscrowd: z.union([z.literal(0), z.literal(1)], { error: 'expected 0 or 1' }).optional(),
      area: cocoFinite.optional(),
      num_keypoints: count.optional(),
      // The length is checked against the category's names below; the cap only bounds the work.
      keypoints: z
        .array(cocoFinite, { error: 'expected an array of numbers (x, y, v per keypoint)' })
        .max(3 * MAX_DATASET_KEYPOINTS + 3, {
          error: `expected at most ${3 * MAX_DATASET_KEYPOINTS} numbers`,
        })
        .optional(),
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
        keypoints: z
          .array(
            z
              .string({ error: 'expected a keypoint name' })
              .min(1, { error: 'expected a keypoint name' })
              .max(64, { error: 'expected a keypoint name of at most 64 characters' }),
            { error: 'expected an array of keypoint names' },
          )
          .max(MAX_DATASET_KEYPOINTS, { error: `expected at most ${MAX_DATASET_KEYPOINTS} keypoint names` })
          .optional(),
        skeleton: pairList,
        // Not COCO's: a dataset may give its own left/right pairs (1-based, like skeleton) and OKS
        // sigmas; without them pairs come from the names and sigmas from defaultOksSigmas.
        flip_pairs: pairList,
        oks_sigmas: z
          .array(
            z
              .number({ error: 'expected sigmas in (0, 10]' })
              .gt(0, { error: 'expected sigmas in (0, 10]' })
              .max(10, { error: 'expected sigmas in (0, 10]' }),
            { error: 'expected an array of sigmas' },
          )
          .optional(),
      }),
      { error: 'expected an array of categories' },
    )
    .min(1, { error: 'expected at least one category' }),
});
type KeypointsFile = z.infer<typeof KeypointsSchema>;

/** What the person category says about its keypoints, 0-based. */
export interface KeypointCategory {
  id: number;
  keypointNames: string[];
  skeleton: KeypointPair[];
  flipPairs: KeypointPair[];
  oksSigmas: number[];
}

/** 1-based pairs from the file, checked to name two distinct keypoints, made 0-based. */
function zeroBasedPairs(
  file: string,
  where: string,
  pairs: readonly (readonly [number, number])[],
  k: number,
): KeypointPair[] {
  return pairs.map(([a, b], i) => {
    if (a < 1 || b < 1 || a > k || b > k || a === b) {
      throw new AnnotationError(
        file,
        `${where}[${i}]`,
        `two distinct keypoint numbers in [1, ${k}] (1-based)`,
        JSON.stringify([a, b]),
      );
    }
    return [a - 1, b - 1] as const;
  });
}

/** The category named "person" and its keypoints; errors name the file and the field. */
function personCategory(file: string, coco: KeypointsFile): KeypointCategory {
  const ids = coco.categories.map((c) => c.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined)
    throw new AnnotationError(file, `category id ${twice}`, 'distinct category ids', 'it twice');
  const persons = coco.categories.filter((c) => c.name === 'person');
  if (persons.length !== 1) {
    throw new AnnotationError(
      file,
      'categories',
      'one category named "person"',
      persons.length === 0 ? `none (${describeNames(coco.categories.map((c) => c.name))})` : 'several',
    );
  }
  const [person] = persons;
  const where = `categories (id ${person.id})`;
  const names = person.keypoints ?? [];
  if (names.length === 0) throw new AnnotationError(file, `${where}.keypoints`, 'keypoint names', 'none');
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) {
    throw new AnnotationError(
      file,
      `${where}.keypoints`,
      'distinct keypoint names',
      `${JSON.stringify(repeated)} twice`,
    );
  }
  const k = names.length;
  const skeleton = zeroBasedPairs(file, `${where}.skeleton`, person.skeleton ?? [], k);
  const flipPairs =
    person.flip_pairs === undefined
      ? flipPairsFromNames(names)
      : zeroBasedPairs(file, `${where}.flip_pairs`, person.flip_pairs, k);
  const paired = flipPairs.flat();
  const both = paired.find((j, i) => paired.indexOf(j) !== i);
  if (both !== undefined) {
    throw new AnnotationError(
      file,
      `${where}.flip_pairs`,
      'each keypoint in at most one pair',
      `${JSON.stringify(names[both])} in two`,
    );
  }
  if (person.oks_sigmas !== undefined && person.oks_sigmas.length !== k) {
    throw new AnnotationError(
      file,
      `${where}.oks_sigmas`,
      `${k} sigmas, one per keypoint`,
      String(person.oks_sigmas.length),
    );
  }
  return {
    id: person.id,
    keypointNames: [...names],
    skeleton,
    flipPairs,
    oksSigmas: person.oks_sigmas ?? defaultOksSigmas(names),
  };
}

function describeNames(names: readonly string[]): string {
  const shown = names.slice(0, 5).map((n) => JSON.stringify(n));
  return shown.join(', ') + (names.length > 5 ? ', ...' : '');
}

/**
 * An annotation's keypoints, checked: 3K numbers, v in {0, 1, 2}, labelled keypoints inside the
 * image (one pixel of slack, as boxes), unlabelled ones zeroed as COCO writes them.
 */
function checkedKeypoints(
  file: string,
  where: string,
  raw: readonly number[] | undefined,
  k: number,
  width: number,
  height: number,
): Float32Array {
  if (raw === undefined || raw.length !== 3 * k) {
    throw new AnnotationError(
      file,
      `${where}.keypoints`,
      `${3 * k} numbers (x, y, v for each of ${k} keypoints)`,
      raw === undefined ? 'nothing' : `${raw.length} numbers`,
    );
  }
  const out = new Float32Array(3 * k);
  for (let j = 0; j < k; j++) {
    const [x, y, v] = [raw[3 * j], raw[3 * j + 1], raw[3 * j + 2]];
    if (v !== 0 && v !== 1 && v !== 2) {
      throw new AnnotationError(
        file,
        `${where}.keypoints[${3 * j + 2}] (keypoint ${j})`,
        'a visibility flag 0, 1 or 2',
        String(v),
      );
    }
    if (v > 0 && (x < -1 || y < -1 || x > width + 1 || y > height + 1)) {
      throw new AnnotationError(
        file,
        `${where}.keypoints[${3 * j}] (keypoint ${j})`,
        `a point inside the ${width}x${height} image`,
        `(${x}, ${y})`,
      );
    }
    if (v > 0) {
      out[3 * j] = x;
      out[3 * j + 1] = y;
      out[3 * j + 2] = v;
    }
  }
  return out;
}

/**
 * The reference's clean box: x1 = max(0, x), x2 = min(W - 1, x1 + max(0, w - 1)), likewise for y,
 * [x1, y1, x2 - x1, y2 - y1]. The box is first checked as detection checks boxes (finite, positive
 * area, inside the image give or take a pixel); one that cleans to a single pixel is an error too,
 * since it gives no crop.
 */
function cleanBox(
  file: string,
  where: string,
  bbox: readonly [number, number, number, number],
  width: number,
  height: number,
): [number, number, number, number] {
  const [x, y, w, h] = bbox;
  checkedBox(file, where, { xMin: x, yMin: y, xMax: x + w, yMax: y + h }, width, height);
  const x1 = Math.max(0, x);
  const y1 = Math.max(0, y);
  const x2 = Math.min(width - 1, x1 + Math.max(0, w - 1));
  const y2 = Math.min(height - 1, y1 + Math.max(0, h - 1));
  if (!(x2 > x1 || y2 > y1)) {
    throw new AnnotationError(
      file,
      where,
      'a box more than one pixel across once clipped to the image',
      JSON.stringify([x, y, w, h]),
    );
  }
  return [x1, y1, x2 - x1, y2 - y1];
}

async function loadSplit(
  ctx: LoadContext,
  split: CocoSplit,
): Promise<{ category: KeypointCategory; persons: PersonInstance[] }> {
  const file = split.json;
  const coco = parseJsonWith(KeypointsSchema, file, await readText(file, ctx.maxFileBytes));
  const category = personCategory(file, coco);
  const k = category.keypointNames.length;
  const known = new Set(coco.categories.map((c) => c.id));
  const images = sortedCocoImages(file, coco.images);
  const byId = new Map(images.map((image, i) => [image.id, { image, index: i }]));
  const persons: { person: Omit<PersonInstance, 'file'>; index: number }[] = [];
  coco.annotations.forEach((a, i) => {
    const where = annotationWhere(i, a.id);
    const found = byId.get(a.image_id);
    if (found === undefined) {
      throw new AnnotationError(
        file,
        `${where}.image_id`,
        'the id of an image in images',
        String(a.image_id),
      );
    }
    if (!known.has(a.category_id)) {
      throw new AnnotationError(
        file,
        `${where}.category_id`,
        `a category id among ${[...known].sort((p, q) => p - q).join(', ')}`,
        String(a.category_id),
      );
    }
    if (a.category_id !== category.id) return;
    const crowd = a.iscrowd === 1;
    // Crowd regions often carry no keypoints at all: checked when they do, never used.
    if (crowd && a.keypoints === undefined) return;
    const { image } = found;
    const keypoints = checkedKeypoints(file, where, a.keypoints, k, image.width, image.height);
    const box = cleanBox(file, `${where}.bbox`, a.bbox, image.width, image.height);
    if (a.area !== undefined && a.area < 0) {
      throw new AnnotationError(file, `${where}.area`, 'a non-negative area', String(a.area));
    }
    let labelled = 0;
    for (let j = 0; j < k; j++) if (keypoints[3 * j + 2] > 0) labelled++;
    // As the reference: crowds, persons without a labelled keypoint and zero-area segments are
    // left out (`P/dataset/coco.py:130-201`), of both splits alike.
    if (crowd || labelled === 0 || a.area === 0) return;
    persons.push({
      person: {
        id: a.id === undefined ? `${image.id}#${i}` : String(a.id),
        imageId: String(image.id),
        width: image.width,
        height: image.height,
        box,
        keypoints,
        numKeypoints: labelled,
        area: a.area ?? a.bbox[2] * a.bbox[3],
      },
      index: found.index,
    });
  });
  // Every image file is checked, persons or not, as the detection reader does.
  const files = await mapPool(images, (image, i) => cocoImageFile(ctx, split, image, i));
  if (persons.length === 0) {
    throw new AnnotationError(
      file,
      'annotations',
      'at least one non-crowd person with a labelled keypoint',
      'none',
    );
  }
  // In image order, then annotation order within an image (the sort is stable).
  persons.sort((p, q) => p.index - q.index);
  return { category, persons: persons.map(({ person, index }) => ({ ...person, file: files[index] })) };
}

/** The category fields both splits must agree on. */
function sameKeypoints(file: string, test: KeypointCategory, train: KeypointCategory): void {
  const fields = ['keypointNames', 'skeleton', 'flipPairs', 'oksSigmas'] as const;
  for (const field of fields) {
    if (JSON.stringify(test[field]) !== JSON.stringify(train[field])) {
      throw new AnnotationError(
        file,
        `categories (id ${test.id})`,
        `the training split's ${field} (${JSON.stringify(train[field]).slice(0, 120)})`,
        JSON.stringify(test[field]).slice(0, 120),
      );
    }
  }
}

/** What the loader returns: the person category's keypoints and both splits' persons. */
export interface LoadedKeypoints extends Omit<KeypointCategory, 'id'> {
  train: PersonInstance[];
  test: PersonInstance[];
}

/** Reads both splits; the test split's person category must say what the training split's does. */
export async function loadCocoKeypoints(
  ctx: LoadContext,
  train: CocoSplit,
  test: CocoSplit,
): Promise<LoadedKeypoints> {
  const t = await loadSplit(ctx, train);
  const v = await loadSplit(ctx, test);
  sameKeypoints(test.json, v.category, t.category);
  const { keypointNames, skeleton, flipPairs, oksSigmas } = t.category;
  return { keypointNames, skeleton, flipPairs, oksSigmas, train: t.persons, test: v.persons };
}
