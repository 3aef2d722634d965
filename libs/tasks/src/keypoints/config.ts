// The keypoint head's configuration (the KeypointConfig protobuf message): SimpleBaseline's crop
// size, heatmap targets, flip test and augmentation, plus what the dataset says about its
// keypoints (names, skeleton, left/right pairs, OKS sigmas), which a model records.
import { z } from 'zod';
import { ConfigError, resolveConfig } from '../config-util';
import { configModelRef, configRange, configSide } from '../segmentation/config';

export type KeypointPair = readonly [number, number];

export interface KeypointConfig {
  /** Person crop height in pixels, a multiple of 32 (the heatmaps are a quarter of it). */
  readonly inputHeight: number;
  /** Person crop width in pixels, a multiple of 32; boxes are padded to width / height. */
  readonly inputWidth: number;
  /** Gaussian target standard deviation in heatmap pixels. */
  readonly heatmapSigma: number;
  /** Whether inference averages the heatmaps of the crop and its mirror. */
  readonly flipTest: boolean;
  /** Scale augmentation: clip(1 + s N(0,1), 1 - s, 1 + s). */
  readonly scaleFactor: number;
  /** Rotation augmentation in degrees: clip(r N(0,1), -2r, 2r) with probability 0.6. */
  readonly rotationFactor: number;
  /** A classification model ("name" or "name:version") seeding the backbone; '' for none. */
  readonly backboneModel: string;
  /** From the dataset: keypoint names in heatmap order ([] in a request). */
  readonly keypointNames: readonly string[];
  /** From the dataset: limbs as pairs of 0-based keypoint indices. */
  readonly skeleton: readonly KeypointPair[];
  /** From the dataset: left/right pairs a mirror image swaps. */
  readonly flipPairs: readonly KeypointPair[];
  /** From the dataset: per-keypoint OKS sigmas. */
  readonly oksSigmas: readonly number[];
}

/** SimpleBaseline's 256x192 COCO setting (DENSE.md section 4), before a dataset fills its keypoints. */
export const SIMPLEBASELINE_CONFIG: KeypointConfig = {
  inputHeight: 256,
  inputWidth: 192,
  heatmapSigma: 2,
  flipTest: true,
  scaleFactor: 0.3,
  rotationFactor: 40,
  backboneModel: '',
  keypointNames: [],
  skeleton: [],
  flipPairs: [],
  oksSigmas: [],
};

/** Heatmaps are a quarter of the crop (three stride-2 deconvolutions on the stride-32 features). */
export const HEATMAP_STRIDE = 4;
/** Most keypoints a model can have. */
export const MAX_KEYPOINTS = 100;

const pairs = z
  .array(z.tuple([z.number().int().min(0), z.number().int().min(0)]), {
    error: 'expected pairs of keypoint indices',
  })
  .optional();

const KeypointConfigSchema = z
  .strictObject({
    inputHeight: configSide(64, 1024),
    inputWidth: configSide(32, 1024),
    heatmapSigma: z
      .number({ error: 'expected a number in (0, 10]' })
      .gt(0, { error: 'expected a number in (0, 10]' })
      .max(10, { error: 'expected a number in (0, 10]' })
      .optional(),
    flipTest: z.boolean({ error: 'expected true or false' }).optional(),
    scaleFactor: configRange(0, 0.9),
    rotationFactor: configRange(0, 90),
    backboneModel: configModelRef(),
    keypointNames: z
      .array(z.string().min(1).max(64), { error: `expected 1 to ${MAX_KEYPOINTS} names` })
      .max(MAX_KEYPOINTS, { error: `expected 1 to ${MAX_KEYPOINTS} names` })
      .optional(),
    skeleton: pairs,
    flipPairs: pairs,
    oksSigmas: z
      .array(z.number().gt(0).max(10), { error: 'expected one sigma in (0, 10] per keypoint' })
      .optional(),
  })
  .superRefine((c, ctx) => {
    const k = c.keypointNames?.length;
    if (k === undefined) return;
    for (const field of ['skeleton', 'flipPairs'] as const) {
      const bad = (c[field] ?? []).find(([a, b]) => a >= k || b >= k || a === b);
      if (bad !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `expected pairs of distinct indices below ${k}`,
        });
      }
    }
    if (c.oksSigmas !== undefined && c.oksSigmas.length !== k) {
      ctx.addIssue({
        code: 'custom',
        path: ['oksSigmas'],
        message: `expected ${k} sigmas, one per keypoint`,
      });
    }
  });

export type KeypointConfigInput = { [K in keyof KeypointConfig]?: KeypointConfig[K] };

/** A keypoint config field out of range (the path, what it must be, what it was). */
export class KeypointConfigError extends ConfigError {
  override readonly name = 'KeypointConfigError';
}

/**
 * The full config: absent fields (and empty arrays) take SimpleBaseline's values; the dataset's
 * fields stay empty until a dataset fills them (`withDatasetKeypoints`). Errors name the field.
 */
export function resolveKeypointConfig(input: unknown = {}, field = 'keypoints'): KeypointConfig {
  return resolveConfig(KeypointConfigSchema, SIMPLEBASELINE_CONFIG, input, field, KeypointConfigError);
}

/** A resolved config with the dataset's keypoints (names, skeleton, flip pairs, OKS sigmas) set. */
export function withDatasetKeypoints(
  config: KeypointConfig,
  dataset: {
    keypointNames: readonly string[];
    skeleton: readonly KeypointPair[];
    flipPairs: readonly KeypointPair[];
    oksSigmas: readonly number[];
  },
  field = 'keypoints',
): KeypointConfig {
  return resolveKeypointConfig(
    {
      ...config,
      keypointNames: dataset.keypointNames,
      skeleton: dataset.skeleton,
      flipPairs: dataset.flipPairs,
      oksSigmas: dataset.oksSigmas,
    },
    field,
  );
}
