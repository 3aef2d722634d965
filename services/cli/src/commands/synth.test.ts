import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  decodeSegmentationSample,
  openDataset,
  openDetectionDataset,
  openKeypointDataset,
  openSegmentationDataset,
} from '@rnas/data';
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

  it('writes segmentation shapes in VOC segmentation layout and prints the voc-seg: URI', async () => {
    const out = path.join(dir, 'seg');
    const r = await rnas([
      'synth',
      '--task',
      'segmentation',
      '--out',
      out,
      '--train',
      '3',
      '--test',
      '2',
      '--size',
      '64',
      '--max-objects',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `wrote 3 training and 2 test images of 64x64 with label maps (voc-seg) to ${out}\nvoc-seg:${out}\n`,
    );
    expect((await readdir(out)).sort()).toEqual([
      'ImageSets',
      'JPEGImages',
      'SegmentationClass',
      'labels.txt',
    ]);
    const ds = await openSegmentationDataset(lastLine(r.out), { dataRoots: [dir] });
    expect([ds.format, ds.train.length, ds.test.length, ds.classNames]).toEqual([
      'voc-seg',
      3,
      2,
      ['background', 'circle', 'square', 'triangle'],
    ]);
    const sample = await decodeSegmentationSample(ds.train[0], ds);
    expect([sample.width, sample.height]).toEqual([64, 64]);
    expect(sample.mask.some((v) => v >= 1 && v <= 3)).toBe(true);
  });

  it('writes stick figures as COCO person keypoints and prints the coco-keypoints: URI', async () => {
    const out = path.join(dir, 'kp');
    const r = await rnas([
      'synth',
      '--task',
      'keypoints',
      '--out',
      out,
      '--train',
      '3',
      '--test',
      '2',
      '--size',
      '64',
    ]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(
      `wrote 3 training and 2 test images of 64x64 with stick figures (coco-keypoints) to ${out}`,
    );
    expect(lastLine(r.out)).toMatch(/^coco-keypoints:/);
    const ds = await openKeypointDataset(lastLine(r.out), { dataRoots: [dir] });
    expect(ds.format).toBe('coco-keypoints');
    expect(ds.keypointNames.length).toBeGreaterThan(1);
    expect(ds.train.length).toBeGreaterThanOrEqual(3);
    expect(new Set(ds.test.map((p) => p.imageId)).size).toBe(2);
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
    [['--max-objects', '3'], /--max-objects: expected no value with --task classification, got 3/],
    [
      ['--task', 'segmentation', '--format', 'voc'],
      /--format: expected voc-seg \(the only one\) for --task segmentation, got "voc"/,
    ],
    [
      ['--task', 'keypoints', '--format', 'coco'],
      /--format: expected coco-keypoints \(the only one\) for --task keypoints, got "coco"/,
    ],
    [
      ['--task', 'segmentation', '--classes', '2'],
      /--classes: expected no value with --task segmentation \(its classes are fixed\), got 2/,
    ],
    [['--task', 'keypoints', '--classes', '2'], /--classes: expected no value with --task keypoints/],
    [['--task', 'segmentation', '--size', '16'], /size: expected an integer in \[32, 1024\], got 16/],
    [['--task', 'keypoints', '--size', '4096'], /size: expected an integer in \[32, 1024\], got 4096/],
    [['--task', 'keypoints', '--max-objects', '9'], /maxFigures: expected an integer in \[1, 4\], got 9/],
    [
      ['--task', 'segmentation', '--max-objects', '99'],
      /maxObjects: expected an integer in \[1, 16\], got 99/,
    ],
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
    const task = await rnas(['synth', '--out', dir, '--task', 'pose']);
    expect(task.code).not.toBe(0);
    expect(task.err).toMatch(/Allowed choices are classification, detection, segmentation, keypoints/);
    const count = await rnas(['synth', '--out', dir, '--train', '0']);
    expect(count.code).not.toBe(0);
    expect(count.err).toMatch(/expected a positive integer, got "0"/);
  });
});
