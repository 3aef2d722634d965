import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { openDataset, openDetectionDataset } from '@rnas/data';
import { rnas } from '../test-util';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rnas-synth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lastLine = (out: string): string => out.trimEnd().split('\n').pop() as string;

describe('rnas synth', () => {
  it('writes an image folder by default and prints the URI that opens it last', async () => {
    const out = path.join(dir, 'folder');
    const r = await rnas([
      'synth',
      '--out',
      out,
      '--train',
      '12',
      '--test',
      '4',
      '--classes',
      '3',
      '--size',
      '16',
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `wrote 12 training and 4 test images in 3 classes (imagefolder) to ${out}\nimagefolder:${out}?size=16&channels=3\n`,
    );
    const ds = await openDataset(lastLine(r.out), { dataRoots: [dir] });
    expect([ds.train.size, ds.test.size, ds.classNames.length]).toEqual([12, 4, 3]);
  });

  it.each([
    ['idx', 'mnist'],
    ['cifar10', 'cifar10'],
  ])('writes classification format %s, opened by %s:', async (format, scheme) => {
    const out = path.join(dir, format);
    const r = await rnas([
      'synth',
      '--out',
      out,
      '--format',
      format,
      '--train',
      '10',
      '--test',
      '5',
      '--seed',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(lastLine(r.out)).toBe(`${scheme}:${out}`);
    const ds = await openDataset(lastLine(r.out), { dataRoots: [dir] });
    expect([ds.train.size, ds.test.size]).toEqual([10, 5]);
  });

  it.each(['voc', 'coco'])('writes a detection dataset as %s', async (format) => {
    const out = path.join(dir, `det-${format}`);
    const r = await rnas([
      'synth',
      '--task',
      'detection',
      '--format',
      format,
      '--out',
      out,
      '--train',
      '6',
      '--test',
      '3',
      '--size',
      '64',
      '--max-objects',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(
      `wrote 6 training and 3 test images of 64x64 with boxes (${format}) to ${out}`,
    );
    const ds = await openDetectionDataset(lastLine(r.out), { dataRoots: [dir] });
    expect([ds.format, ds.train.length, ds.test.length]).toEqual([format, 6, 3]);
    expect(ds.classNames).toEqual(['circle', 'square', 'triangle']);
    expect(
      Math.max(...ds.train.map((i) => i.objects.filter((o) => !o.difficult && !o.crowd).length)),
    ).toBeLessThanOrEqual(2);
    expect(ds.train[0].width).toBe(64);
  });

  it('writes VOC for detection by default', async () => {
    const out = path.join(dir, 'det-default');
    const r = await rnas(['synth', '--task', 'detection', '--out', out, '--train', '2', '--test', '1']);
    expect(r.code).toBe(0);
    expect(lastLine(r.out)).toBe(`voc:${out}`);
    expect((await readdir(out)).sort()).toEqual(['Annotations', 'ImageSets', 'JPEGImages', 'labels.txt']);
  });

  it.each([
    [
      ['--task', 'detection', '--format', 'idx'],
      /--format: expected one of voc, coco for --task detection, got "idx"/,
    ],
    [
      ['--format', 'voc'],
      /--format: expected one of idx, idx-raw, cifar10, cifar100, imagefolder for --task classification, got "voc"/,
    ],
    [['--max-objects', '3'], /--max-objects: expected no value without --task detection, got 3/],
    [['--format', 'cifar10', '--size', '8'], /--size: expected no value with --format cifar10/],
    [['--task', 'detection', '--size', '8'], /size: expected an integer in \[32, 1024\], got 8/],
    [['--task', 'detection', '--classes', '9'], /classes: expected an integer in \[1, 6\], got 9/],
  ])('refuses %j', async (args, message) => {
    const r = await rnas(['synth', '--out', path.join(dir, 'refused'), ...args]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  it('refuses an unknown task and a bad count as usage errors', async () => {
    const task = await rnas(['synth', '--out', dir, '--task', 'segmentation']);
    expect(task.code).not.toBe(0);
    expect(task.err).toMatch(/Allowed choices are classification, detection/);
    const count = await rnas(['synth', '--out', dir, '--train', '0']);
    expect(count.code).not.toBe(0);
    expect(count.err).toMatch(/expected a positive integer, got "0"/);
  });
});
