// What a keypoint dataset is once opened: one entry per annotated person (top-down pose works on
// person crops, not whole images), every annotation checked and every image file found, so a bad
// dataset is reported before training starts.

/** Two 0-based keypoint indices: a limb of the skeleton, or a left/right pair a mirror swaps. */
export type KeypointPair = readonly [number, number];

/**
 * One annotated person, in pixels of the stored image. `box` is the reference's clean box
 * (`P/dataset/coco.py:130-201`): x,y clipped to the image, the far corner to the last pixel, so
 * [x1, y1, x2 - x1, y2 - y1]. `keypoints` holds K (x, y, v) triples as COCO writes them: v = 0 not
 * labelled (x = y = 0), 1 labelled but occluded, 2 visible.
 */
export interface PersonInstance {
  /** The annotation's id (or `<image id>#<index>` when it has none). */
  id: string;
  imageId: string;
  /** Absolute (real) path of the image file, checked to lie under the data roots. */
  file: string;
  /** The image size the annotation gives; decoding checks the file has it. */
  width: number;
  height: number;
  box: [number, number, number, number];
  keypoints: Float32Array;
  /** Keypoints with v > 0. */
  numKeypoints: number;
  /** COCO's `area` (the segment's, which OKS uses), or the box's when the file has none. */
  area: number;
}

export interface KeypointDataset {
  uri: string;
  name: string;
  format: 'coco-keypoints';
  keypointNames: readonly string[];
  /** Limbs, 0-based (COCO's file writes them 1-based). */
  skeleton: readonly KeypointPair[];
  /** Left/right pairs, 0-based, [left, right] ordered by the first index. */
  flipPairs: readonly KeypointPair[];
  /** Per-keypoint OKS sigmas (see `defaultOksSigmas`). */
  oksSigmas: readonly number[];
  train: readonly PersonInstance[];
  test: readonly PersonInstance[];
}

/** COCO's 17 person keypoints in heatmap order. */
export const COCO_KEYPOINT_NAMES: readonly string[] = [
  'nose',
  'left_eye',
  'right_eye',
  'left_ear',
  'right_ear',
  'left_shoulder',
  'right_shoulder',
  'left_elbow',
  'right_elbow',
  'left_wrist',
  'right_wrist',
  'left_hip',
  'right_hip',
  'left_knee',
  'right_knee',
  'left_ankle',
  'right_ankle',
];

/** COCO's 19 limbs (person_keypoints JSON `skeleton`, 1-based there), 0-based. */
export const COCO_SKELETON: readonly KeypointPair[] = (
  [
    [16, 14],
    [14, 12],
    [17, 15],
    [15, 13],
    [12, 13],
    [6, 12],
    [7, 13],
    [6, 7],
    [6, 8],
    [7, 9],
    [8, 10],
    [9, 11],
    [2, 3],
    [1, 2],
    [1, 3],
    [2, 4],
    [3, 5],
    [4, 6],
    [5, 7],
  ] as const
).map(([a, b]) => [a - 1, b - 1] as const);

/** The reference's flip pairs (`P/dataset/coco.py`), 0-based: eyes, ears, ..., ankles. */
export const COCO_FLIP_PAIRS: readonly KeypointPair[] = [
  [1, 2],
  [3, 4],
  [5, 6],
  [7, 8],
  [9, 10],
  [11, 12],
  [13, 14],
  [15, 16],
];

/** COCO's per-keypoint OKS sigmas (pycocotools, DENSE.md section 4), in COCO_KEYPOINT_NAMES order. */
export const COCO_OKS_SIGMAS: readonly number[] = [
  0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
  0.089, 0.089,
];

/** The OKS sigma of a keypoint of a non-COCO dataset that gives none: about COCO's mean (0.064) less a little. */
export const DEFAULT_OKS_SIGMA = 0.05;

/**
 * OKS sigmas for keypoints by name: COCO's when the names are exactly COCO's 17 in COCO's order,
 * otherwise DEFAULT_OKS_SIGMA for every keypoint (a file can give its own in the category's
 * `oks_sigmas`, which the loader prefers).
 */
export function defaultOksSigmas(names: readonly string[]): number[] {
  const coco =
    names.length === COCO_KEYPOINT_NAMES.length && names.every((n, i) => n === COCO_KEYPOINT_NAMES[i]);
  return coco ? [...COCO_OKS_SIGMAS] : names.map(() => DEFAULT_OKS_SIGMA);
}

const SIDES: Record<string, string> = {
  left: 'right',
  right: 'left',
  Left: 'Right',
  Right: 'Left',
  LEFT: 'RIGHT',
  RIGHT: 'LEFT',
};

/**
 * Left/right pairs derived from names: a name with a `left` word (split on `_`, `-`, `.`, space;
 * `left_eye`, `hand-Left`) pairs with the same name saying `right` there. 0-based, each pair
 * [a, b] with a < b, ordered by a; names without a counterpart have no pair.
 */
export function flipPairsFromNames(names: readonly string[]): KeypointPair[] {
  const index = new Map(names.map((n, i) => [n, i]));
  const pairs: KeypointPair[] = [];
  names.forEach((name, i) => {
    const parts = name.split(/([_\-. ])/);
    parts.forEach((part, j) => {
      if (SIDES[part] === undefined || !part.toLowerCase().startsWith('left')) return;
      const other = [...parts];
      other[j] = SIDES[part];
      const k = index.get(other.join(''));
      if (k !== undefined && k !== i) pairs.push(i < k ? [i, k] : [k, i]);
    });
  });
  const seen = new Set<string>();
  return pairs
    .filter(([a, b]) => !seen.has(`${a},${b}`) && seen.add(`${a},${b}`))
    .sort((p, q) => p[0] - q[0] || p[1] - q[1]);
}
