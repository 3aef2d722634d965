// The segmentation head's configuration (the SegmentationConfig protobuf message): BiSeNet's
// input size, its training augmentation's scales, the learning-rate multiplier of the head and
// the auxiliary losses' weight. One validation for every entry point (service, CLI, artifact).
import { z } from 'zod';
import { ConfigError, resolveConfig } from '../config-util';

export interface SegmentationConfig {
  /** Network input height in pixels, a multiple of 32 (training crops to it, serving resizes). */
  readonly inputHeight: number;
  /** Network input width in pixels, a multiple of 32. */
  readonly inputWidth: number;
  /** Scale factors of the training augmentation, one drawn per image. */
  readonly scales: readonly number[];
  /** A classification model ("name" or "name:version") seeding the backbone; '' for none. */
  readonly backboneModel: string;
  /** Learning-rate multiplier of the fusion module and output heads (BiSeNet: 10). */
  readonly headLrScale: number;
  /** Weight of each auxiliary loss (BiSeNet: 1). */
  readonly auxiliaryWeight: number;
}

/** The label that marks pixels left out of the loss and the metrics (VOC's borders, padding). */
export const IGNORE_LABEL = 255;
/** Most classes a segmentation model can have: labels are bytes and 255 is the ignore label. */
export const MAX_SEGMENTATION_CLASSES = 255;

/** BiSeNet as the reference trains it on Cityscapes (DENSE.md section 3). */
export const BISENET_CONFIG: SegmentationConfig = {
  inputHeight: 1024,
  inputWidth: 1024,
  scales: [0.75, 1, 1.25, 1.5, 1.75, 2],
  backboneModel: '',
  headLrScale: 10,
  auxiliaryWeight: 1,
};

const MODEL_REF = /^[a-z0-9][a-z0-9._-]{0,63}(:[1-9][0-9]{0,8})?$/;
const side = (min: number, max: number) => {
  const e = { error: `expected a multiple of 32 in [${min}, ${max}]` };
  return z
    .number(e)
    .int(e)
    .min(min, e)
    .max(max, e)
    .refine((v) => v % 32 === 0, e)
    .optional();
};
const range = (min: number, max: number) => {
  const e = { error: `expected a number in [${min}, ${max}]` };
  return z.number(e).min(min, e).max(max, e).optional();
};
const modelRef = () => {
  const e = { error: 'expected "" or a model name with an optional ":version"' };
  return z
    .string(e)
    .refine((s) => s === '' || MODEL_REF.test(s), e)
    .optional();
};

const SegmentationConfigSchema = z.strictObject({
  inputHeight: side(64, 2048),
  inputWidth: side(64, 2048),
  scales: z
    .array(range(0.25, 4).unwrap(), { error: 'expected 1 to 16 numbers in [0.25, 4]' })
    .min(1, { error: 'expected 1 to 16 numbers in [0.25, 4]' })
    .max(16, { error: 'expected 1 to 16 numbers in [0.25, 4]' })
    .optional(),
  backboneModel: modelRef(),
  headLrScale: range(0, 100),
  auxiliaryWeight: range(0, 10),
});

export type SegmentationConfigInput = { [K in keyof SegmentationConfig]?: SegmentationConfig[K] };

/** A segmentation config field out of range (the path, what it must be, what it was). */
export class SegmentationConfigError extends ConfigError {
  override readonly name = 'SegmentationConfigError';
}

/**
 * The full config: absent fields (and empty arrays) take BiSeNet's values. Errors name the field,
 * e.g. `segmentation.inputHeight: expected a multiple of 32 in [64, 2048], got 100`.
 */
export function resolveSegmentationConfig(input: unknown = {}, field = 'segmentation'): SegmentationConfig {
  return resolveConfig(SegmentationConfigSchema, BISENET_CONFIG, input, field, SegmentationConfigError);
}

export { side as configSide, range as configRange, modelRef as configModelRef };
