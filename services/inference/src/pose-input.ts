// What an EstimatePose request carries beyond Classify's image rules (person boxes per image),
// the top-down person crops (SimpleBaseline's: each box padded to the model's aspect and 1.25x,
// warped to the input size) and the response built from the keypoint records. Every error is
// INVALID_ARGUMENT and names the field by its protobuf path (`boxes[1].boxes[0]`).
import { InvalidArgumentError } from '@rnas/grpc';
import type { BoundingBox, ImagePoses, PersonBoxes } from '@rnas/proto';
import { boxCenterScale, cropAffine, warpAffine } from '@rnas/data';
import { KEYPOINT_VALUES, keypointsToImage, type Affine } from '@rnas/tasks';
import type { DecodedImage } from './preprocess';

/** How far a box may reach past its image (rounding in clients' own resizing). */
export const BOX_TOLERANCE_PX = 1;
/** Keypoints scoring above it count in a person's score (the reference's in_vis_thre). */
export const PERSON_SCORE_THRESHOLD = 0.2;

/** A box as corners in its image's pixels. */
export type Corners = readonly [xMin: number, yMin: number, xMax: number, yMax: number];

const corners = (box: BoundingBox): Corners => [box.xMin, box.yMin, box.xMax, box.yMax];
/** A box as errors show it (JSON would print NaN as null). */
const shown = (box: BoundingBox): string =>
  `x_min=${box.xMin} y_min=${box.yMin} x_max=${box.xMax} y_max=${box.yMax}`;

/**
 * The request's boxes before any image is decoded: none, or one entry per image; at most
 * `maxPeople` people in all (an entry without boxes is one person); every coordinate finite.
 * Returns the number of people.
 */
export function checkPersonBoxes(boxes: readonly PersonBoxes[], images: number, maxPeople: number): number {
  if (boxes.length !== 0 && boxes.length !== images) {
    throw new InvalidArgumentError(
      'boxes',
      `${boxes.length} entries`,
      `expected none (each image is one person) or one entry per image (${images})`,
    );
  }
  let people = boxes.length === 0 ? images : 0;
  for (const entry of boxes) people += Math.max(1, entry.boxes.length);
  if (people > maxPeople) {
    throw new InvalidArgumentError(
      'boxes',
      `${people} people`,
      `at most ${maxPeople} people per request (--max-batch-size; an image without boxes is one); split the request`,
    );
  }
  boxes.forEach((entry, i) =>
    entry.boxes.forEach((box, j) => {
      if (!corners(box).every(Number.isFinite)) {
        throw new InvalidArgumentError(`boxes[${i}].boxes[${j}]`, shown(box), 'expected finite coordinates');
      }
    }),
  );
  return people;
}

/**
 * The people of one image (`boxes[index]`, or the whole image when it has none), checked against
 * its size: inside it (within BOX_TOLERANCE_PX, then clipped to it) with positive area.
 */
export function imagePeople(
  entry: PersonBoxes | undefined,
  index: number,
  width: number,
  height: number,
): Corners[] {
  if (entry === undefined || entry.boxes.length === 0) return [[0, 0, width, height]];
  return entry.boxes.map((box, j) => {
    const [x0, y0, x1, y1] = corners(box);
    const t = BOX_TOLERANCE_PX;
    const field = `boxes[${index}].boxes[${j}]`;
    if (x0 < -t || y0 < -t || x1 > width + t || y1 > height + t) {
      throw new InvalidArgumentError(
        field,
        shown(box),
        `expected a box inside the image (${width}x${height} pixels)`,
      );
    }
    const clipped: Corners = [Math.max(x0, 0), Math.max(y0, 0), Math.min(x1, width), Math.min(y1, height)];
    if (!(clipped[2] > clipped[0] && clipped[3] > clipped[1])) {
      throw new InvalidArgumentError(
        field,
        shown(box),
        'expected a box of positive area (x_max > x_min, y_max > y_min)',
      );
    }
    return clipped;
  });
}

/** One person's crop at the model's input size and the map from crop pixels back to the image. */
export interface PersonCrop {
  readonly pixels: Uint8Array;
  readonly inverse: Affine;
}

/**
 * SimpleBaseline's top-down crop of a box: its centre and scale at the input's aspect (padded
 * 1.25x, `boxCenterScale`), warped bilinearly to `width x height` (outside the image: 0).
 */
export function personCrop(
  image: DecodedImage,
  channels: number,
  box: Corners,
  width: number,
  height: number,
): PersonCrop {
  const { center, scale } = boxCenterScale(
    [box[0], box[1], box[2] - box[0], box[3] - box[1]],
    width / height,
  );
  const forward = cropAffine(center, scale, 0, width, height);
  return {
    pixels: warpAffine(image.pixels, image.width, image.height, channels, forward, width, height),
    inverse: cropAffine(center, scale, 0, width, height, true),
  };
}

/** Where a person's record goes in the response. */
export interface PersonSlot {
  readonly image: number;
  readonly box: Corners;
  readonly inverse: Affine;
}

/**
 * The poses of each image from the batch's records (per person, K keypoints x, y in crop pixels
 * and a score), in the image's pixels (clipped to it), with each person's score: the mean of its
 * keypoints scoring above PERSON_SCORE_THRESHOLD, 0 when none does.
 */
export function imagePoses(
  records: Float32Array,
  people: readonly PersonSlot[],
  sizes: readonly { width: number; height: number }[],
  names: readonly string[],
): ImagePoses[] {
  const k = names.length;
  const out: ImagePoses[] = sizes.map(({ width, height }) => ({ width, height, people: [] }));
  people.forEach((person, p) => {
    const { width, height } = sizes[person.image];
    const record = records.subarray(p * k * KEYPOINT_VALUES, (p + 1) * k * KEYPOINT_VALUES);
    const mapped = keypointsToImage(record, person.inverse);
    const clip = (v: number, side: number): number => Math.min(Math.max(v, 0), side);
    let sum = 0;
    let counted = 0;
    const keypoints = names.map((name, j) => {
      const score = mapped[j * KEYPOINT_VALUES + 2];
      if (score > PERSON_SCORE_THRESHOLD) {
        sum += score;
        counted++;
      }
      return {
        name,
        x: clip(mapped[j * KEYPOINT_VALUES], width),
        y: clip(mapped[j * KEYPOINT_VALUES + 1], height),
        score,
      };
    });
    const [xMin, yMin, xMax, yMax] = person.box;
    out[person.image].people.push({
      box: { xMin, yMin, xMax, yMax },
      keypoints,
      score: counted > 0 ? sum / counted : 0,
    });
  });
  return out;
}
