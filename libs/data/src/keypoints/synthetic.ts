// Synthetic person keypoints in the real COCO layout: one or two stick figures per image on a
// textured background (the detection set's), so a small SimpleBaseline learns them in minutes
// while the loader reads real files. Figures face the viewer: a figure's left hand and foot are on
// the image's right, which is what makes left and right learnable under flip augmentation (the
// mirror swaps the names with the sides), and why left and right limbs share a colour.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { jpeg, PALETTE, texturedBackground } from '../detection/synthetic';
import { checkInt, invalidArgument } from '../errors';
import { Rng } from '../rng';
import type { KeypointPair } from './types';

/** The figures' joints in heatmap order; left/right pairs follow from the names. */
export const FIGURE_KEYPOINT_NAMES: readonly string[] = [
  'head',
  'neck',
  'left_hand',
  'right_hand',
  'pelvis',
  'left_foot',
  'right_foot',
];

/** Limbs, 0-based: head-neck, the arms, the trunk, the legs. */
export const FIGURE_SKELETON: readonly KeypointPair[] = [
  [0, 1],
  [1, 2],
  [1, 3],
  [1, 4],
  [4, 5],
  [4, 6],
];

/**
 * The figures' OKS sigmas, written into the JSON's person category as `oks_sigmas` (which the
 * loader reads): as COCO does, looser for the extremities (hands, feet) than for the body.
 */
export const FIGURE_OKS_SIGMAS: readonly number[] = [0.05, 0.05, 0.07, 0.07, 0.05, 0.07, 0.07];

export interface KeypointFiguresOptions {
  train: number;
  test: number;
  /** Image side in pixels. */
  size: number;
  seed: number;
  /** Figures per image are 1 to maxFigures (default 2). */
  maxFigures?: number;
}

/** Chance a joint is drawn but left unlabelled (v = 0), and that one is covered by a block (v = 1). */
const UNLABELLED = 0.05;
const OCCLUDED = 0.06;

interface Figure {
  /** Joint positions in pixel coordinates (pixel centres at integers, as the reference's crops). */
  joints: [number, number][];
  v: number[];
  /** First and last pixel covered. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A figure of height h with the neck at the origin, before it is placed. */
function pose(rng: Rng, h: number): [number, number][] {
  const u = (lo: number, hi: number): number => lo + (hi - lo) * rng.nextFloat();
  const deg = Math.PI / 180;
  const neck: [number, number] = [0, 0];
  const head: [number, number] = [u(-0.04, 0.04) * h, -0.17 * h];
  const pelvis: [number, number] = [u(-0.04, 0.04) * h, u(0.3, 0.36) * h];
  const arm = 0.3 * h;
  const [al, ar] = [u(15, 160) * deg, u(15, 160) * deg];
  const leg = 0.42 * h;
  const [ll, lr] = [u(6, 40) * deg, u(6, 40) * deg];
  const joints: [number, number][] = [
    head,
    neck,
    [arm * Math.sin(al), arm * Math.cos(al)],
    [-arm * Math.sin(ar), arm * Math.cos(ar)],
    pelvis,
    [pelvis[0] + leg * Math.sin(ll), pelvis[1] + leg * Math.cos(ll)],
    [pelvis[0] - leg * Math.sin(lr), pelvis[1] + leg * Math.cos(lr)],
  ];
  // A slight lean about the pelvis.
  const lean = u(-8, 8) * deg;
  const [sn, cs] = [Math.sin(lean), Math.cos(lean)];
  return joints.map(([x, y]) => {
    const [dx, dy] = [x - pelvis[0], y - pelvis[1]];
    return [pelvis[0] + dx * cs - dy * sn, pelvis[1] + dx * sn + dy * cs];
  });
}

/** Distance from (px, py) to the segment a-b. */
function segmentDistance(px: number, py: number, a: readonly number[], b: readonly number[]): number {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((px - a[0]) * dx + (py - a[1]) * dy) / len2));
  return Math.hypot(px - a[0] - t * dx, py - a[1] - t * dy);
}

function drawImage(rng: Rng, size: number, maxFigures: number): { pixels: Uint8Array; figures: Figure[] } {
  const canvas = texturedBackground(rng, size);
  const count = 1 + rng.nextInt(maxFigures);
  // One column each, so figures do not overlap.
  const column = size / count;
  // Head and trunk, arms, legs, and the hands and feet: four distinct colours per image.
  const colours = rng.permutation(PALETTE.length);
  const paint = (x: number, y: number, colour: readonly number[]): void => {
    const o = (y * size + x) * 3;
    for (let c = 0; c < 3; c++) canvas[o + c] = colour[c] + (rng.nextFloat() - 0.5) * 16;
  };
  const figures: Figure[] = [];
  for (let f = 0; f < count; f++) {
    let h = size * (0.45 + 0.4 * rng.nextFloat());
    let joints = pose(rng, h);
    const half = (): number => Math.max(1.5, 0.035 * h);
    const headRadius = (): number => Math.max(2.5, 0.07 * h);
    const extent = (): [number, number, number, number] => {
      const m = Math.max(half(), headRadius()) + 1;
      const xs = joints.map((j) => j[0]);
      const ys = joints.map((j) => j[1]);
      return [Math.min(...xs) - m, Math.min(...ys) - m, Math.max(...xs) + m, Math.max(...ys) + m];
    };
    // Shrunk until it fits its column and the image.
    for (let e = extent(); e[2] - e[0] > column - 2 || e[3] - e[1] > size - 2; e = extent()) {
      h *= 0.9;
      joints = joints.map(([x, y]) => [x * 0.9, y * 0.9]);
    }
    const [ex0, ey0, ex1, ey1] = extent();
    const dx = f * column + 1 - ex0 + rng.nextFloat() * (column - 2 - (ex1 - ex0));
    const dy = 1 - ey0 + rng.nextFloat() * (size - 2 - (ey1 - ey0));
    joints = joints.map(([x, y]) => [x + dx, y + dy]);
    const [bx0, by0, bx1, by1] = extent();
    const [trunk, arms, legs, ends] = [0, 1, 2, 3].map((i) => PALETTE[colours[i]]);
    const limbColour = [trunk, arms, arms, trunk, legs, legs];
    let x0 = size;
    let y0 = size;
    let x1 = -1;
    let y1 = -1;
    for (let y = Math.max(0, Math.floor(by0)); y <= Math.min(size - 1, Math.ceil(by1)); y++) {
      for (let x = Math.max(0, Math.floor(bx0)); x <= Math.min(size - 1, Math.ceil(bx1)); x++) {
        let colour: readonly number[] | undefined;
        // Hands and feet as dots on top, then the head, then the limbs.
        if ([2, 3, 5, 6].some((j) => Math.hypot(x - joints[j][0], y - joints[j][1]) <= half() * 1.6))
          colour = ends;
        else if (Math.hypot(x - joints[0][0], y - joints[0][1]) <= headRadius()) colour = trunk;
        else {
          const limb = FIGURE_SKELETON.findIndex(
            ([a, b]) => segmentDistance(x, y, joints[a], joints[b]) <= half(),
          );
          if (limb >= 0) colour = limbColour[limb];
        }
        if (colour === undefined) continue;
        paint(x, y, colour);
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
    }
    figures.push({ joints, v: joints.map((): number => 2), x0, y0, x1, y1 });
  }
  // Occluders: dark noisy blocks over a few joints, which become v = 1 (as any joint under them).
  for (const figure of figures) {
    figure.joints.forEach(([jx, jy]) => {
      if (rng.nextFloat() >= OCCLUDED) return;
      const r = Math.max(3, Math.round(0.06 * size));
      const [cx, cy] = [
        Math.round(jx + (rng.nextFloat() - 0.5) * r),
        Math.round(jy + (rng.nextFloat() - 0.5) * r),
      ];
      const shade = 20 + 40 * rng.nextFloat();
      for (let y = Math.max(0, cy - r); y <= Math.min(size - 1, cy + r); y++)
        for (let x = Math.max(0, cx - r); x <= Math.min(size - 1, cx + r); x++)
          paint(x, y, [shade, shade, shade]);
      for (const other of figures) {
        other.joints.forEach(([ox, oy], j) => {
          if (Math.abs(Math.round(ox) - cx) <= r + 1 && Math.abs(Math.round(oy) - cy) <= r + 1)
            other.v[j] = 1;
        });
      }
    });
  }
  for (const figure of figures) {
    figure.v = figure.v.map((v) => (rng.nextFloat() < UNLABELLED ? 0 : v));
    if (!figure.v.some((v) => v > 0)) figure.v[1] = 2;
  }
  const pixels = new Uint8Array(size * size * 3);
  for (let i = 0; i < pixels.length; i++) {
    const v = canvas[i];
    pixels[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  return { pixels, figures };
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

/**
 * Writes a synthetic person-keypoints dataset into `dir`: train/ and val/ JPEG folders and
 * annotations/person_keypoints_{train,val}.json (a "person" category with FIGURE_KEYPOINT_NAMES,
 * the 1-based skeleton and FIGURE_OKS_SIGMAS as `oks_sigmas`; per figure the keypoints, their
 * count, the box of the pixels drawn and its area), and returns the `coco-keypoints:` URI that
 * opens it. The same options write the same files.
 */
export async function writeKeypointFigures(
  dir: string,
  options: KeypointFiguresOptions,
): Promise<{ uri: string }> {
  if (options === null || typeof options !== 'object') throw invalidArgument('options', options, 'an object');
  const train = checkInt('train', options.train, 1, 100_000);
  const test = checkInt('test', options.test, 1, 100_000);
  const size = checkInt('size', options.size, 32, 1024);
  const seed = checkInt('seed', options.seed, 0, Number.MAX_SAFE_INTEGER);
  const maxFigures = checkInt('maxFigures', options.maxFigures ?? 2, 1, 4);
  // '?' would end the URI's path.
  if (typeof dir !== 'string' || dir === '' || /[\0?]/.test(dir)) {
    throw invalidArgument('dir', dir, "a directory path (without NUL or '?')");
  }
  const root = path.resolve(dir);
  const rng = Rng.fromSeed(seed);
  await fs.mkdir(path.join(root, 'annotations'), { recursive: true });
  const categories = [
    {
      id: 1,
      name: 'person',
      supercategory: 'person',
      keypoints: FIGURE_KEYPOINT_NAMES,
      skeleton: FIGURE_SKELETON.map(([a, b]) => [a + 1, b + 1]),
      oks_sigmas: FIGURE_OKS_SIGMAS,
    },
  ];
  let imageId = 1;
  let annotationId = 1;
  const jsons: string[] = [];
  for (const [split, count] of [
    ['train', train],
    ['val', test],
  ] as const) {
    await fs.mkdir(path.join(root, split), { recursive: true });
    const images = [];
    const annotations = [];
    for (let i = 0; i < count; i++) {
      const { pixels, figures } = drawImage(rng, size, maxFigures);
      const id = imageId++;
      const fileName = `${String(id).padStart(6, '0')}.jpg`;
      await jpeg(pixels, size).toFile(path.join(root, split, fileName));
      images.push({ id, file_name: fileName, width: size, height: size });
      for (const f of figures) {
        // COCO's box spans the pixels: the last one covered plus one.
        const bbox = [f.x0, f.y0, f.x1 - f.x0 + 1, f.y1 - f.y0 + 1];
        annotations.push({
          id: annotationId++,
          image_id: id,
          category_id: 1,
          bbox,
          // No segments: the box's area stands in for OKS's scale.
          area: bbox[2] * bbox[3],
          iscrowd: 0,
          num_keypoints: f.v.filter((v) => v > 0).length,
          keypoints: f.joints.flatMap(([x, y], j) =>
            f.v[j] > 0 ? [round2(x), round2(y), f.v[j]] : [0, 0, 0],
          ),
        });
      }
    }
    const json = path.join(root, 'annotations', `person_keypoints_${split}.json`);
    await fs.writeFile(json, JSON.stringify({ images, annotations, categories }));
    jsons.push(json);
  }
  const q = (v: string): string => encodeURIComponent(v);
  return {
    uri: `coco-keypoints:${jsons[0]}?images=${q(path.join(root, 'train'))}&test=${q(jsons[1])}&test_images=${q(path.join(root, 'val'))}`,
  };
}
