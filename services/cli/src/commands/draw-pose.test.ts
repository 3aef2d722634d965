import sharp from 'sharp';
import type { Keypoint, PersonPose } from '@rnas/proto';
import { classColour } from './draw-detections';
import { drawPoses, poseSvg } from './draw-pose';

const GREY = 128;
const WHITE = [255, 255, 255];

function greyPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: GREY, g: GREY, b: GREY } } })
    .png()
    .toBuffer();
}

async function pixels(
  png: Buffer,
): Promise<{ at(x: number, y: number): number[]; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    at: (x, y) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)),
  };
}

const hex = (colour: string): number[] => [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
const kp = (name: string, x: number, y: number, score: number): Keypoint => ({ name, x, y, score });

/** A person of three keypoints: head (20, 20), hip (20, 100), foot (80, 100) scoring `footScore`. */
const person = (footScore: number, dx = 0): PersonPose => ({
  box: { xMin: 10 + dx, yMin: 10, xMax: 90 + dx, yMax: 110 },
  keypoints: [
    kp('head', 20 + dx, 20, 0.9),
    kp('hip', 20 + dx, 100, 0.8),
    kp('foot', 80 + dx, 100, footScore),
  ],
  score: 0.8,
});
const SKELETON = [0, 1, 1, 2];

describe('drawPoses', () => {
  it('draws limbs in the person colour and keypoints as dots, and leaves the rest alone', async () => {
    const image = await pixels(await drawPoses(await greyPng(200, 120), [person(0.7)], SKELETON));
    expect([image.width, image.height]).toEqual([200, 120]);
    // Middle of each limb, a keypoint's centre, far away.
    expect(image.at(20, 60)).toEqual(hex(classColour(0)));
    expect(image.at(50, 100)).toEqual(hex(classColour(0)));
    expect(image.at(20, 20)).toEqual(WHITE);
    expect(image.at(80, 100)).toEqual(WHITE);
    expect(image.at(150, 60)).toEqual([GREY, GREY, GREY]);
    expect(image.at(50, 50)).toEqual([GREY, GREY, GREY]);
  });

  it('leaves out keypoints scoring 0.2 or less and their limbs, and colours people apart', async () => {
    const image = await pixels(
      await drawPoses(await greyPng(200, 120), [person(0.2), person(0.9, 100)], SKELETON),
    );
    expect(image.at(20, 60)).toEqual(hex(classColour(0)));
    expect(image.at(50, 100)).toEqual([GREY, GREY, GREY]);
    expect(image.at(80, 100)).toEqual([GREY, GREY, GREY]);
    expect(image.at(150, 100)).toEqual(hex(classColour(1)));
    expect(classColour(0)).not.toEqual(classColour(1));
  });

  it('draws the person box', async () => {
    const image = await pixels(await drawPoses(await greyPng(200, 120), [person(0.9)], []));
    expect(image.at(60, 10)).not.toEqual([GREY, GREY, GREY]);
    expect(image.at(20, 60)).toEqual([GREY, GREY, GREY]);
  });

  it('scales poses given for an image of another size', async () => {
    const image = await pixels(
      await drawPoses(await greyPng(200, 120), [person(0.9)], SKELETON, { width: 100, height: 60 }),
    );
    // The limb head-hip (x = 20) lands on x = 40, from y = 40 to y = 200 (clipped).
    expect(image.at(40, 80)).toEqual(hex(classColour(0)));
    expect(image.at(30, 60)).toEqual([GREY, GREY, GREY]);
  });

  it('draws nothing for no people, and refuses bytes that are not an image', async () => {
    const grey = await pixels(await drawPoses(await greyPng(20, 10), [], SKELETON));
    expect(grey.at(10, 5)).toEqual([GREY, GREY, GREY]);
    await expect(drawPoses(Buffer.from('not an image'), [], [])).rejects.toThrow();
  });
});

describe('poseSvg', () => {
  it('skips limbs naming no keypoint, an odd tail, and bad coordinates', () => {
    const p: PersonPose = {
      box: { xMin: NaN, yMin: 0, xMax: Infinity, yMax: 5 },
      keypoints: [kp('a', 1, 1, 0.9), kp('b', NaN, 2, 0.9), kp('c', 3, 3, 0.9)],
      score: 0.9,
    };
    const svg = poseSvg([p], [0, 7, 0, 1, 0, 2, 2], 10, 10);
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(svg.match(/<line /g)).toHaveLength(1);
    expect(svg.match(/<circle /g)).toHaveLength(2);
  });
});
