// Segmentation and keypoints end to end through the real services, as `make demo-segment` and
// `make demo-pose` run them but tiny: synthetic data in VOC segmentation / COCO keypoint format,
// the network trained and published by the training service, loaded by the inference service, the
// held-out images sent through Segment / EstimatePose as JPEGs, scored, and overlays or skeletons
// drawn.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { cropWidth, poseResultLine, resolvePoseDemoConfig, runPoseDemo } from './demo-pose';
import { resolveSegmentDemoConfig, runSegmentDemo, segmentResultLine } from './demo-segment';

function captureIo(): { io: Parameters<typeof runSegmentDemo>[1]; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (s: string) => out.push(s) > 0 },
      stderr: { write: (s: string) => err.push(s) > 0 },
      env: {},
    } as unknown as Parameters<typeof runSegmentDemo>[1],
    out,
    err,
  };
}

describe('the segmentation and keypoint demos', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rnas-demo-dense-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('segmentation: trains, publishes, serves and segments through the services, ending with its mIoU line', async () => {
    const out = path.join(dir, 'segment');
    const config = {
      ...resolveSegmentDemoConfig({ out, channels: 4, layers: 3, inputSize: 64, epochs: 1 }, new Date()),
      trainImages: 8,
      testImages: 4,
      batchSize: 4,
      draw: 2,
    };
    const { io, out: lines, err } = captureIo();
    const code = await runSegmentDemo(config, io);
    const text = lines.join('');
    expect({ code, failed: err.join('').includes('FAILED') }).toEqual({ code: 0, failed: false });
    expect(err.join('')).toMatch(/epoch 1\/1: train loss [\d.]+; test loss [\d.]+, mIoU [\d.]+/);
    expect(text).toContain('segmenting the 4 held-out images through Segment');
    expect(text.trimEnd().split('\n').pop()).toMatch(
      /^demo-segment: mIoU=(0|1)\.\d{4} model=shapes-segmenter version=1$/,
    );
    const overlays = readdirSync(path.join(out, 'overlays'));
    expect(overlays).toHaveLength(2);
    expect((await sharp(path.join(out, 'overlays', overlays[0])).metadata()).width).toBe(64);
    expect(existsSync(path.join(out, 'models', 'shapes-segmenter', '1', 'task.json'))).toBe(true);
  }, 600_000);

  it('keypoints: trains, publishes, serves and estimates poses through the services, ending with its AP line', async () => {
    const out = path.join(dir, 'pose');
    const config = {
      ...resolvePoseDemoConfig({ out, channels: 4, layers: 3, inputSize: 64, epochs: 1 }, new Date()),
      trainImages: 6,
      testImages: 3,
      batchSize: 4,
      draw: 2,
    };
    const { io, out: lines, err } = captureIo();
    const code = await runPoseDemo(config, io);
    const text = lines.join('');
    expect({ code, failed: err.join('').includes('FAILED') }).toEqual({ code: 0, failed: false });
    expect(err.join('')).toMatch(/epoch 1\/1: train loss [\d.]+; test loss [\d.]+, AP [\d.]+/);
    expect(text).toMatch(/estimating the poses of the \d+ held-out people through EstimatePose/);
    expect(text.trimEnd().split('\n').pop()).toMatch(
      /^demo-pose: AP=(0|1)\.\d{4} model=figures-pose version=1$/,
    );
    const drawn = readdirSync(path.join(out, 'poses'));
    expect(drawn).toHaveLength(2);
    expect((await sharp(path.join(out, 'poses', drawn[0])).metadata()).width).toBe(96);
  }, 600_000);

  it('checks their flags before anything starts, naming the flag', () => {
    const now = new Date();
    expect(() => resolveSegmentDemoConfig({ inputSize: 100 }, now)).toThrow(
      /^--input-size: expected a multiple of 32/,
    );
    expect(() => resolvePoseDemoConfig({ channels: 7 }, now)).toThrow(/^--channels: .*even/);
    expect(() => resolvePoseDemoConfig({ model: 'Bad Name' }, now)).toThrow(/^--model: /);
    expect(cropWidth(96)).toBe(64);
    expect(cropWidth(64)).toBe(32);
    expect(segmentResultLine(0.61234, 'm', 2)).toBe('demo-segment: mIoU=0.6123 model=m version=2');
    expect(poseResultLine(0.5, 'p', 1)).toBe('demo-pose: AP=0.5000 model=p version=1');
    expect(() => segmentResultLine(Number.NaN, 'm', 1)).toThrow(/mIoU NaN/);
    expect(() => poseResultLine(2, 'p', 1)).toThrow(/AP 2/);
  });
});
