import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { DataError } from '../errors';
import { openDetectionDataset } from './open';
import { openFailure } from './test-util';
import { AnnotationError, VOC_CLASSES } from './types';
import { parseVocAnnotation } from './voc';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-voc-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function annotation(objects: string, size = '<width>20</width><height>10</height>'): string {
  return `<annotation><filename>x.jpg</filename><size>${size}<depth>3</depth></size>${objects}</annotation>`;
}

function object(name: string, box: [number, number, number, number], difficult = '0'): string {
  const [x1, y1, x2, y2] = box;
  return `<object><name>${name}</name><difficult>${difficult}</difficult><bndbox><xmin>${x1}</xmin><ymin>${y1}</ymin><xmax>${x2}</xmax><ymax>${y2}</ymax></bndbox></object>`;
}

/** A small VOC folder: ids a (train) and b (val), 20x10 images; `edit` changes it before it is opened. */
async function vocFolder(files: Record<string, string | null> = {}): Promise<string> {
  const dir = path.join(root, `voc${n++}`);
  const base: Record<string, string | null> = {
    'ImageSets/Main/train.txt': 'a\n',
    'ImageSets/Main/val.txt': 'b\n',
    'Annotations/a.xml': annotation(object('dog', [1, 1, 10, 5]) + object(' Cat ', [2, 2, 20, 10], '1')),
    'Annotations/b.xml': annotation(object('person', [5, 5, 6, 6], '')),
    ...files,
  };
  for (const [name, text] of Object.entries(base)) {
    if (text === null) continue;
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
  await fs.mkdir(path.join(dir, 'JPEGImages'), { recursive: true });
  for (const id of ['a', 'b']) {
    await sharp({ create: { width: 20, height: 10, channels: 3, background: '#808080' } })
      .jpeg()
      .toFile(path.join(dir, 'JPEGImages', `${id}.jpg`));
  }
  return dir;
}

const failure = (dir: string, query = '', options: { maxFileBytes?: number } = {}): Promise<DataError> =>
  openFailure(`voc:${dir}${query}`, { dataRoots: [root], ...options });

describe('VOC', () => {
  it('reads boxes minus 1, classes case-insensitively, difficult flags and the default classes', async () => {
    const dir = await vocFolder();
    const ds = await openDetectionDataset(`voc:${dir}`, { dataRoots: [root] });
    expect(ds.classNames).toEqual(VOC_CLASSES);
    expect(ds.train).toEqual([
      {
        id: 'a',
        file: path.join(dir, 'JPEGImages', 'a.jpg'),
        width: 20,
        height: 10,
        objects: [
          { xMin: 0, yMin: 0, xMax: 9, yMax: 4, classIndex: 11, difficult: false, crowd: false },
          { xMin: 1, yMin: 1, xMax: 19, yMax: 9, classIndex: 7, difficult: true, crowd: false },
        ],
      },
    ]);
    expect(ds.test[0].objects).toEqual([
      { xMin: 4, yMin: 4, xMax: 5, yMax: 5, classIndex: 14, difficult: false, crowd: false },
    ]);
  });

  it('takes class names from labels.txt (commas or lines, spaces dropped) and named splits', async () => {
    const dir = await vocFolder({
      'labels.txt': 'Dog, cat\nperson\n',
      'ImageSets/Main/trainval.txt': 'a\r\n\r\nb\r\n',
      'ImageSets/Main/test.txt': 'b',
    });
    const ds = await openDetectionDataset(`voc:${dir}?train=trainval&test=test`, { dataRoots: [root] });
    expect(ds.classNames).toEqual(['Dog', 'cat', 'person']);
    expect(ds.train.map((i) => i.id)).toEqual(['a', 'b']);
    expect(ds.train[0].objects.map((o) => o.classIndex)).toEqual([0, 1]);
    expect(ds.test[0]).toEqual(ds.train[1]);
  });

  it('clips a box that overhangs the image by at most a pixel (VOC 0 for the first column)', async () => {
    const dir = await vocFolder({ 'Annotations/b.xml': annotation(object('cat', [0, 0, 21, 11])) });
    const ds = await openDetectionDataset(`voc:${dir}`, { dataRoots: [root] });
    expect(ds.test[0].objects[0]).toMatchObject({ xMin: 0, yMin: 0, xMax: 20, yMax: 10 });
  });

  it.each([
    [
      'malformed XML',
      { 'Annotations/a.xml': '<annotation>\n<size></annotation>' },
      /a\.xml line 2: expected well-formed XML, got "Expected closing tag/,
    ],
    [
      'no annotation root',
      { 'Annotations/a.xml': '<other/>' },
      /a\.xml: expected an <annotation> root element/,
    ],
    [
      'no size',
      { 'Annotations/a.xml': '<annotation><object/></annotation>' },
      /a\.xml <annotation>: expected one <size> element, got none/,
    ],
    [
      'a bad width',
      { 'Annotations/a.xml': annotation('', '<width>0</width><height>5</height>') },
      /<size> <width>: expected a positive integer of at most 65535, got 0/,
    ],
    [
      'a non-numeric height',
      { 'Annotations/a.xml': annotation('', '<width>5</width><height>ten</height>') },
      /<size> <height>: expected a number, got "ten"/,
    ],
    [
      'an empty object',
      { 'Annotations/a.xml': annotation('<object></object>') },
      /a\.xml object 1: expected <name> and <bndbox> elements, got an empty <object>/,
    ],
    [
      'a missing bndbox',
      { 'Annotations/a.xml': annotation('<object><name>dog</name></object>') },
      /object 1: expected one <bndbox> element, got none/,
    ],
    [
      'a missing coordinate',
      { 'Annotations/a.xml': annotation('<object><name>dog</name><bndbox><xmin>1</xmin></bndbox></object>') },
      /object 1: expected a <ymin> element with text, got none/,
    ],
    [
      'an empty coordinate',
      {
        'Annotations/a.xml': annotation(
          object('dog', [1, 1, 5, 5]).replace('<xmax>5</xmax>', '<xmax></xmax>'),
        ),
      },
      /object 1 <xmax>: expected a number, got ""/,
    ],
    [
      'an unknown class',
      { 'Annotations/a.xml': annotation(object('unicorn', [1, 1, 5, 5])) },
      /a\.xml object 1 <name>: expected a class among aeroplane, .*, got "unicorn"/,
    ],
    [
      'a zero-area box',
      { 'Annotations/a.xml': annotation(object('dog', [3, 1, 3, 5])) },
      /object 1: expected a box of positive area \(xMax > xMin, yMax > yMin\), got \[2, 0, 2, 4\]/,
    ],
    [
      'an inverted box',
      { 'Annotations/a.xml': annotation(object('dog', [1, 5, 5, 1])) },
      /expected a box of positive area/,
    ],
    [
      'a box outside the image',
      { 'Annotations/a.xml': annotation(object('dog', [1, 1, 40, 5])) },
      /object 1: expected a box inside the 20x10 image .*, got \[0, 0, 39, 4\]/,
    ],
    [
      'a bad difficult flag',
      { 'Annotations/a.xml': annotation(object('dog', [1, 1, 5, 5], 'yes')) },
      /object 1 <difficult>: expected 0 or 1, got "yes"/,
    ],
    [
      'an empty split',
      { 'ImageSets/Main/train.txt': '\n\n' },
      /train\.txt: expected at least one image id, got an empty list/,
    ],
    [
      'a bad id',
      { 'ImageSets/Main/train.txt': 'a\n../etc/passwd\n' },
      /train\.txt line 2: expected an image id \(letters, digits, _ \. -\), got "..\/etc\/passwd"/,
    ],
    [
      'an id listed twice',
      { 'ImageSets/Main/val.txt': 'b\nb\n' },
      /val\.txt line 2: expected an id not listed before \(line 1\), got "b"/,
    ],
    [
      'labels.txt repeating a name',
      { 'labels.txt': 'dog,Dog' },
      /labels\.txt: expected distinct class names, got "Dog" twice/,
    ],
    [
      'an empty labels.txt',
      { 'labels.txt': ' , \n' },
      /labels\.txt: expected at least one class name, got none/,
    ],
    [
      'an annotation that is a NUL byte',
      { 'Annotations/a.xml': '\u0000' },
      /a\.xml line 1: expected well-formed XML/,
    ],
  ])('refuses %s, naming the file and where', async (_name, files, message) => {
    const err = await failure(await vocFolder(files as Record<string, string>));
    expect(err.message).toMatch(message);
    expect(err.code).toBe('FAILED_PRECONDITION');
  });

  it('answers NOT_FOUND for listed files that are missing', async () => {
    const dir = await vocFolder();
    await fs.rm(path.join(dir, 'JPEGImages', 'b.jpg'));
    const err = await failure(dir);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(
      /val\.txt line 1: expected the image .*JPEGImages\/b\.jpg to exist, got no such file/,
    );
    const noSplit = await failure(await vocFolder(), '?test=test');
    expect(noSplit.code).toBe('NOT_FOUND');
    expect(noSplit.message).toMatch(/ImageSets\/Main has none of test\.txt/);
    const unlisted = await failure(await vocFolder({ 'ImageSets/Main/train.txt': 'a\nzz\n' }));
    expect(unlisted.code).toBe('NOT_FOUND');
    expect(unlisted.message).toMatch(
      /train\.txt line 2: expected an annotation .*zz\.xml for id "zz", got no such file/,
    );
    const noAnnotations = await vocFolder();
    await fs.rm(path.join(noAnnotations, 'Annotations'), { recursive: true });
    expect((await failure(noAnnotations)).message).toMatch(/expected a folder Annotations, got none/);
  });

  it('refuses hostile paths: split names, symlinks out of the roots, the dataset outside them', async () => {
    const dir = await vocFolder();
    expect((await failure(dir, '?train=../../x')).message).toMatch(
      /query parameter train: expected an image-set name/,
    );
    expect((await failure(dir, '?train=a%00b')).code).toBe('INVALID_ARGUMENT');
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-voc-outside-'));
    try {
      const escaping = await failure(`${root}/../${path.basename(outside)}`);
      expect(escaping.code).toBe('INVALID_ARGUMENT');
      expect(escaping.message).toMatch(/outside the data roots/);
      await fs.writeFile(path.join(outside, 'secret.jpg'), 'x');
      await fs.rm(path.join(dir, 'JPEGImages', 'a.jpg'));
      await fs.symlink(path.join(outside, 'secret.jpg'), path.join(dir, 'JPEGImages', 'a.jpg'));
      const err = await failure(dir);
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(/a\.jpg \(it resolves to .*secret\.jpg\) is outside the data roots/);
      const linked = await vocFolder();
      await fs.writeFile(path.join(outside, 'x.xml'), annotation(''));
      await fs.rm(path.join(linked, 'Annotations', 'a.xml'));
      await fs.symlink(path.join(outside, 'x.xml'), path.join(linked, 'Annotations', 'a.xml'));
      expect((await failure(linked)).message).toMatch(/outside the data roots/);
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('refuses huge annotation files before reading them', async () => {
    const big = annotation(`<!-- ${'x'.repeat(1024 * 1024)} -->`);
    const err = await failure(await vocFolder({ 'Annotations/a.xml': big }));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toMatch(/a\.xml: .* is more than the 1\.0 MiB a dataset file may have/);
    const small = await failure(await vocFolder(), '', { maxFileBytes: 100 });
    expect(small.code).toBe('RESOURCE_EXHAUSTED');
  });

  it('refuses text that is not UTF-8', async () => {
    const dir = await vocFolder();
    await fs.writeFile(path.join(dir, 'labels.txt'), Buffer.from([0x64, 0xff, 0x67]));
    expect((await failure(dir)).message).toMatch(
      /labels\.txt: expected UTF-8 text, got bytes that are not valid UTF-8/,
    );
  });

  it('does not expand entities (no billion laughs)', () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>${annotation(object('&lol2;', [1, 1, 5, 5]))}`;
    expect(() => parseVocAnnotation('x.xml', xml, new Map([['dog', 0]]))).toThrow(AnnotationError);
    expect(() => parseVocAnnotation('x.xml', xml, new Map([['dog', 0]]))).toThrow(/got "&lol2;"/);
  });
});
