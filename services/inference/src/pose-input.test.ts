// EstimatePose's boxes, person crops and response, without a network.
import { applyAffine } from '@rnas/data';
import { checkPersonBoxes, imagePeople, imagePoses, personCrop, type Corners } from './pose-input';

const box = (xMin: number, yMin: number, xMax: number, yMax: number) => ({ xMin, yMin, xMax, yMax });

describe('checkPersonBoxes', () => {
  it('counts people: an image without boxes is one', () => {
    expect(checkPersonBoxes([], 3, 4)).toBe(3);
    expect(checkPersonBoxes([{ boxes: [] }, { boxes: [box(0, 0, 1, 1), box(0, 0, 2, 2)] }], 2, 4)).toBe(3);
  });

  it('refuses a wrong entry count, too many people and non-finite boxes', () => {
    expect(() => checkPersonBoxes([{ boxes: [] }], 2, 4)).toThrow(/^invalid boxes="1 entries"/);
    const many = { boxes: Array.from({ length: 1_000_000 }, () => box(0, 0, 1, 1)) };
    expect(() => checkPersonBoxes([many], 1, 32)).toThrow(
      /^invalid boxes="1000000 people": at most 32 people/,
    );
    expect(() =>
      checkPersonBoxes([{ boxes: [box(0, 0, 1, 1)] }, { boxes: [box(0, -Infinity, 1, 1)] }], 2, 4),
    ).toThrow(
      /^invalid boxes\[1\]\.boxes\[0\]="x_min=0 y_min=-Infinity x_max=1 y_max=1": expected finite coordinates$/,
    );
  });
});

describe('imagePeople', () => {
  it('takes the whole image without boxes, clips within a pixel of the edge', () => {
    expect(imagePeople(undefined, 0, 20, 10)).toEqual([[0, 0, 20, 10]]);
    expect(imagePeople({ boxes: [] }, 0, 20, 10)).toEqual([[0, 0, 20, 10]]);
    expect(imagePeople({ boxes: [box(-1, -0.5, 21, 10.2), box(2, 3, 4, 5)] }, 0, 20, 10)).toEqual([
      [0, 0, 20, 10],
      [2, 3, 4, 5],
    ]);
  });

  it('refuses a box outside the image or without area, naming it', () => {
    expect(() => imagePeople({ boxes: [box(2, 3, 4, 5), box(0, 0, 21.5, 5)] }, 3, 20, 10)).toThrow(
      /^invalid boxes\[3\]\.boxes\[1\]="x_min=0 y_min=0 x_max=21.5 y_max=5": expected a box inside the image \(20x10 pixels\)$/,
    );
    expect(() => imagePeople({ boxes: [box(5, 5, 5, 8)] }, 0, 20, 10)).toThrow(/positive area/);
    expect(() => imagePeople({ boxes: [box(5, 8, 6, 2)] }, 0, 20, 10)).toThrow(/positive area/);
    // Entirely in the tolerance band: nothing left once clipped.
    expect(() => imagePeople({ boxes: [box(-1, 0, -0.5, 5)] }, 0, 20, 10)).toThrow(/positive area/);
  });
});

describe('personCrop', () => {
  // A 40x30 grey image with a white 10x20 block at x 15..25, y 5..25.
  const width = 40;
  const height = 30;
  const pixels = new Uint8Array(width * height).fill(50);
  for (let y = 5; y < 25; y++) for (let x = 15; x < 25; x++) pixels[y * width + x] = 250;
  const image = { pixels, width, height };

  it('crops the box padded to the input aspect and 1.25x, and maps crop pixels back to the image', () => {
    const block: Corners = [15, 5, 25, 25];
    // 10x20 at aspect 1:2 stays 10x20; 1.25x: 12.5x25, onto 16x32 crop pixels.
    const crop = personCrop(image, 1, block, 16, 32);
    expect(crop.pixels.length).toBe(16 * 32);
    expect(crop.pixels[16 * 16 + 8]).toBe(250); // the centre is the block
    expect(crop.pixels[16 * 16 + 0]).toBe(50); // the padding beside it is background
    const [cx, cy] = applyAffine(crop.inverse, 8, 16);
    expect(cx).toBeCloseTo(20, 6);
    expect(cy).toBeCloseTo(15, 6);
    const [x0, y0] = applyAffine(crop.inverse, 0, 0);
    expect(x0).toBeCloseTo(20 - 12.5 / 2, 6);
    expect(y0).toBeCloseTo(15 - 25 / 2, 6);
  });

  it('reads 0 outside the image (a person at the edge)', () => {
    const crop = personCrop(image, 1, [0, 0, 8, 16], 16, 32);
    expect(crop.pixels[0]).toBe(0);
  });
});

describe('imagePoses', () => {
  it('maps each person back to its image, clips to it, and scores the confident keypoints', () => {
    const identity = [1, 0, 0, 0, 1, 0] as const;
    const shifted = [1, 0, 100, 0, 1, 5] as const;
    const records = Float32Array.from([
      // person 0 (image 1, shifted): two keypoints
      1, 2, 0.9, -200, 3, 0.1,
      // person 1 (image 1, identity)
      4, 5, 0.3, 6, 7, 0.5,
    ]);
    const poses = imagePoses(
      records,
      [
        { image: 1, box: [0, 0, 10, 10], inverse: shifted },
        { image: 1, box: [1, 2, 3, 4], inverse: identity },
      ],
      [
        { width: 50, height: 50 },
        { width: 120, height: 60 },
      ],
      ['head', 'hand'],
    );
    expect(poses[0]).toEqual({ width: 50, height: 50, people: [] });
    expect(poses[1].people).toHaveLength(2);
    const [a, b] = poses[1].people;
    expect(a.keypoints.map((k) => [k.name, k.x, k.y])).toEqual([
      ['head', 101, 7],
      ['hand', 0, 8],
    ]);
    expect(a.score).toBeCloseTo(0.9, 6);
    expect(b.box).toEqual(box(1, 2, 3, 4));
    expect(b.score).toBeCloseTo(0.4, 6);
    const none = imagePoses(
      Float32Array.from([1, 1, 0.1]),
      [{ image: 0, box: [0, 0, 1, 1], inverse: identity }],
      [{ width: 5, height: 5 }],
      ['x'],
    );
    expect(none[0].people[0].score).toBe(0);
  });
});
