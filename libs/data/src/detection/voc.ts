// Pascal VOC as the reference's VOCDataset reads it (`S/datasets/voc_dataset.py`):
// `ImageSets/Main/<split>.txt` lists image ids, `Annotations/<id>.xml` holds the size and the
// objects, `JPEGImages/<id>.jpg` the image; `labels.txt` in the root, when present, replaces the 20
// VOC classes. Unlike the reference, an unknown class name is an error, not silently skipped.
import * as path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { exists, findFile, type LoadContext } from '../files';
import { checkImageFile, mapPool, readText } from './files';
import {
  AnnotationError,
  checkedBox,
  VOC_CLASSES,
  type DetectionImage,
  type LoadedDetection,
  type ObjectBox,
} from './types';

/** Largest annotation XML and labels.txt read: VOC's are a few kilobytes. */
export const MAX_VOC_XML_BYTES = 1024 * 1024;
/** Largest image-set file: VOC 2012 trainval is about 130 KB. */
const MAX_SPLIT_BYTES = 64 * 1024 * 1024;
const MAX_CLASSES = 1000;
const IMAGE_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

export interface VocSplits {
  train: string;
  test: string;
}

// Strings only (no number guessing), no entity expansion, `object` always a list.
const parser = new XMLParser({
  parseTagValue: false,
  ignoreAttributes: true,
  processEntities: false,
  isArray: (_name, jpath) => jpath === 'annotation.object',
});

/**
 * Class names from labels.txt: comma- or newline-separated, spaces removed (as the reference);
 * `defaults` (VOC's) when there is none. Shared with VOC segmentation.
 */
export async function readLabels(
  ctx: LoadContext,
  dir: string,
  defaults: readonly string[] = VOC_CLASSES,
): Promise<string[]> {
  if (!(await exists(path.join(dir, 'labels.txt')))) return [...defaults];
  const file = await findFile(ctx, dir, ['labels.txt']);
  const names = (await readText(file, Math.min(ctx.maxFileBytes, MAX_VOC_XML_BYTES)))
    .split(/[,\r\n]/)
    .map((n) => n.replace(/\s/g, ''))
    .filter((n) => n !== '');
  if (names.length === 0) throw new AnnotationError(file, undefined, 'at least one class name', 'none');
  if (names.length > MAX_CLASSES) {
    throw new AnnotationError(file, undefined, `at most ${MAX_CLASSES} class names`, String(names.length));
  }
  const seen = new Set<string>();
  for (const name of names) {
    const key = name.toLowerCase();
    if (seen.has(key))
      throw new AnnotationError(file, undefined, 'distinct class names', `${JSON.stringify(name)} twice`);
    seen.add(key);
  }
  return names;
}

/**
 * The ids of one image-set file (`ImageSets/<folder>/<name>.txt`), in order; an error names the
 * line of a bad or repeated id. Ids are plain file names, so `../x` cannot leave the folders.
 */
export async function readSplit(
  ctx: LoadContext,
  dir: string,
  name: string,
  folder: 'Main' | 'Segmentation' = 'Main',
): Promise<{ file: string; ids: string[] }> {
  const file = await findFile(ctx, path.join(dir, 'ImageSets', folder), [`${name}.txt`]);
  const ids: string[] = [];
  const lineOf = new Map<string, number>();
  (await readText(file, Math.min(ctx.maxFileBytes, MAX_SPLIT_BYTES))).split('\n').forEach((raw, i) => {
    const id = raw.trim();
    if (id === '') return;
    if (!IMAGE_ID.test(id) || id === '.' || id === '..') {
      throw new AnnotationError(
        file,
        `line ${i + 1}`,
        'an image id (letters, digits, _ . -)',
        JSON.stringify(id.slice(0, 80)),
      );
    }
    const before = lineOf.get(id);
    if (before !== undefined) {
      throw new AnnotationError(
        file,
        `line ${i + 1}`,
        `an id not listed before (line ${before})`,
        JSON.stringify(id),
      );
    }
    lineOf.set(id, i + 1);
    ids.push(id);
  });
  if (ids.length === 0) throw new AnnotationError(file, undefined, 'at least one image id', 'an empty list');
  return { file, ids };
}

type XmlNode = Record<string, unknown>;

function isNode(v: unknown): v is XmlNode {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The text of `node.<key>`; an error naming the element when it is missing or not text. */
function text(file: string, where: string, node: XmlNode, key: string): string {
  const v = node[key];
  if (typeof v !== 'string') {
    throw new AnnotationError(
      file,
      where,
      `a <${key}> element with text`,
      v === undefined ? 'none' : 'an element',
    );
  }
  return v;
}

function numberIn(file: string, where: string, node: XmlNode, key: string): number {
  const raw = text(file, where, node, key);
  const v = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(v))
    throw new AnnotationError(file, `${where} <${key}>`, 'a number', JSON.stringify(raw.slice(0, 40)));
  return v;
}

function child(file: string, where: string, node: XmlNode, key: string): XmlNode {
  const v = node[key];
  if (!isNode(v))
    throw new AnnotationError(
      file,
      where,
      `one <${key}> element`,
      v === undefined ? 'none' : JSON.stringify(v).slice(0, 40),
    );
  return v;
}

/** Parses one annotation: the image size and its objects, boxes minus 1 as the reference. */
export function parseVocAnnotation(
  file: string,
  xml: string,
  classIndex: ReadonlyMap<string, number>,
): { width: number; height: number; objects: ObjectBox[] } {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new AnnotationError(
      file,
      `line ${valid.err.line}`,
      'well-formed XML',
      JSON.stringify(valid.err.msg),
    );
  }
  const doc: unknown = parser.parse(xml);
  if (!isNode(doc) || !isNode(doc.annotation)) {
    throw new AnnotationError(file, undefined, 'an <annotation> root element', 'none');
  }
  const annotation = doc.annotation;
  const size = child(file, '<annotation>', annotation, 'size');
  const width = numberIn(file, '<size>', size, 'width');
  const height = numberIn(file, '<size>', size, 'height');
  for (const [key, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) {
      throw new AnnotationError(file, `<size> <${key}>`, 'a positive integer of at most 65535', String(v));
    }
  }
  const list = annotation.object === undefined ? [] : (annotation.object as unknown[]);
  const objects = list.map((node, i): ObjectBox => {
    const where = `object ${i + 1}`;
    if (!isNode(node))
      throw new AnnotationError(file, where, '<name> and <bndbox> elements', 'an empty <object>');
    const name = text(file, where, node, 'name').trim().toLowerCase();
    const index = classIndex.get(name);
    if (index === undefined) {
      throw new AnnotationError(
        file,
        `${where} <name>`,
        `a class among ${[...classIndex.keys()].join(', ')}`,
        JSON.stringify(name),
      );
    }
    const bndbox = child(file, where, node, 'bndbox');
    const box = checkedBox(
      file,
      where,
      {
        // VOC is 1-based (Matlab); the reference subtracts 1 from all four.
        xMin: numberIn(file, where, bndbox, 'xmin') - 1,
        yMin: numberIn(file, where, bndbox, 'ymin') - 1,
        xMax: numberIn(file, where, bndbox, 'xmax') - 1,
        yMax: numberIn(file, where, bndbox, 'ymax') - 1,
      },
      width,
      height,
    );
    // The reference reads an empty <difficult> as 0; a missing one is 0 here too.
    const difficult = node.difficult === undefined || node.difficult === '' ? '0' : node.difficult;
    if (difficult !== '0' && difficult !== '1') {
      throw new AnnotationError(
        file,
        `${where} <difficult>`,
        '0 or 1',
        JSON.stringify(difficult).slice(0, 40),
      );
    }
    return { ...box, classIndex: index, difficult: difficult === '1', crowd: false };
  });
  return { width, height, objects };
}

/** Reads a VOC folder: both splits' annotations parsed and every image found. */
export async function loadVoc(ctx: LoadContext, dir: string, splits: VocSplits): Promise<LoadedDetection> {
  const classNames = await readLabels(ctx, dir);
  const classIndex = new Map(classNames.map((n, i) => [n.toLowerCase(), i]));
  const train = await readSplit(ctx, dir, splits.train);
  const test = await readSplit(ctx, dir, splits.test);
  const annotations = path.join(dir, 'Annotations');
  const jpegs = path.join(dir, 'JPEGImages');
  for (const folder of [annotations, jpegs]) {
    if (!(await exists(folder))) {
      throw new AnnotationError(dir, undefined, `a folder ${path.basename(folder)}`, 'none', 'NOT_FOUND');
    }
    if (ctx.roots !== undefined) await ctx.roots.check(ctx.uri, folder);
  }
  // An id in both splits (train=trainval, test=val) is read once.
  const cache = new Map<string, Promise<DetectionImage>>();
  const load = (split: { file: string; ids: string[] }): Promise<DetectionImage[]> =>
    mapPool(split.ids, (id, i) => {
      let image = cache.get(id);
      if (image === undefined) {
        image = loadImage(
          ctx,
          { annotations, jpegs },
          id,
          { file: split.file, location: `line ${i + 1}` },
          classIndex,
        );
        cache.set(id, image);
      }
      return image;
    });
  return { classNames, train: await load(train), test: await load(test) };
}

async function loadImage(
  ctx: LoadContext,
  folders: { annotations: string; jpegs: string },
  id: string,
  listedAt: { file: string; location: string },
  classIndex: ReadonlyMap<string, number>,
): Promise<DetectionImage> {
  const xmlFile = path.join(folders.annotations, `${id}.xml`);
  if (!(await exists(xmlFile))) {
    throw new AnnotationError(
      listedAt.file,
      listedAt.location,
      `an annotation ${xmlFile} for id ${JSON.stringify(id)}`,
      'no such file',
      'NOT_FOUND',
    );
  }
  const real = ctx.roots === undefined ? xmlFile : await ctx.roots.check(ctx.uri, xmlFile);
  const { width, height, objects } = parseVocAnnotation(
    xmlFile,
    await readText(real, Math.min(ctx.maxFileBytes, MAX_VOC_XML_BYTES)),
    classIndex,
  );
  const file = await checkImageFile(ctx, path.join(folders.jpegs, `${id}.jpg`), listedAt);
  return { id, file, width, height, objects };
}
