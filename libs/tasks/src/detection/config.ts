// The detection head's configuration (the DetectionConfig protobuf message): SSDLite's priors
// table (DENSE.md section 2, `ssdlite_config.py`), the input size it scales to, matching and the
// backbone's transfer. One validation for every entry point (service, CLI, artifact files).
import { z } from 'zod';

export interface DetectionConfig {
  /** Side of the square network input in pixels, a multiple of 32. */
  readonly inputSize: number;
  /** The seven prior sizes of the six maps, in pixels at input 320, increasing. */
  readonly boxSizes: readonly number[];
  /** Aspect ratios of the extra priors per location (each r gives w√r × h/√r and its transpose). */
  readonly aspectRatios: readonly number[];
  /** IoU at which a prior matches a ground truth. */
  readonly matchIou: number;
  /** A classification model ("name" or "name:version") seeding the backbone; '' for none. */
  readonly backboneModel: string;
  /** Epochs at the start during which only the head trains. */
  readonly freezeBackboneEpochs: number;
  /** Learning-rate multiplier of the backbone. */
  readonly backboneLrScale: number;
  /**
   * The training images' augmentation: `ssd`, the reference's (photometric distortion, zoom out,
   * random crop, mirror; made for long schedules), or `mirror` (flips only: faster on short ones).
   */
  readonly augmentation: DetectionAugmentation;
}

export const DETECTION_AUGMENTATIONS = ['ssd', 'mirror'] as const;
export type DetectionAugmentation = (typeof DETECTION_AUGMENTATIONS)[number];

/** The reference's SSDLite at 320 x 320. */
export const SSDLITE_CONFIG: DetectionConfig = {
  inputSize: 320,
  boxSizes: [60, 105, 150, 195, 240, 285, 330],
  aspectRatios: [2, 3],
  matchIou: 0.5,
  backboneModel: '',
  freezeBackboneEpochs: 0,
  backboneLrScale: 1,
  augmentation: 'ssd',
};

/** The input size the priors table is written for. */
export const REFERENCE_INPUT_SIZE = 320;

const MODEL_REF = /^[a-z0-9][a-z0-9._-]{0,63}(:[1-9][0-9]{0,8})?$/;

const DetectionConfigSchema = z.strictObject({
  inputSize: z
    .number({ error: 'expected a multiple of 32 in [64, 1024]' })
    .int({ error: 'expected a multiple of 32 in [64, 1024]' })
    .min(64, { error: 'expected a multiple of 32 in [64, 1024]' })
    .max(1024, { error: 'expected a multiple of 32 in [64, 1024]' })
    .refine((v) => v % 32 === 0, { error: 'expected a multiple of 32 in [64, 1024]' })
    .optional(),
  boxSizes: z
    .array(
      z
        .number({ error: 'expected 7 increasing sizes in (0, 4096]' })
        .gt(0, { error: 'expected 7 increasing sizes in (0, 4096]' })
        .max(4096, { error: 'expected 7 increasing sizes in (0, 4096]' }),
      { error: 'expected 7 increasing sizes in (0, 4096]' },
    )
    .length(7, { error: 'expected 7 increasing sizes in (0, 4096]' })
    .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]), {
      error: 'expected 7 increasing sizes in (0, 4096]',
    })
    .optional(),
  aspectRatios: z
    .array(
      z
        .number({ error: 'expected 1 to 4 distinct integers in [2, 8]' })
        .int({ error: 'expected 1 to 4 distinct integers in [2, 8]' })
        .min(2, { error: 'expected 1 to 4 distinct integers in [2, 8]' })
        .max(8, { error: 'expected 1 to 4 distinct integers in [2, 8]' }),
      { error: 'expected 1 to 4 distinct integers in [2, 8]' },
    )
    .min(1, { error: 'expected 1 to 4 distinct integers in [2, 8]' })
    .max(4, { error: 'expected 1 to 4 distinct integers in [2, 8]' })
    .refine((r) => new Set(r).size === r.length, { error: 'expected 1 to 4 distinct integers in [2, 8]' })
    .optional(),
  matchIou: z
    .number({ error: 'expected a number in (0, 1)' })
    .gt(0, { error: 'expected a number in (0, 1)' })
    .lt(1, { error: 'expected a number in (0, 1)' })
    .optional(),
  backboneModel: z
    .string({ error: 'expected "" or a model name with an optional ":version"' })
    .refine((s) => s === '' || MODEL_REF.test(s), {
      error: 'expected "" or a model name with an optional ":version"',
    })
    .optional(),
  freezeBackboneEpochs: z
    .number({ error: 'expected an integer in [0, 100000]' })
    .int({ error: 'expected an integer in [0, 100000]' })
    .min(0, { error: 'expected an integer in [0, 100000]' })
    .max(100_000, { error: 'expected an integer in [0, 100000]' })
    .optional(),
  backboneLrScale: z
    .number({ error: 'expected a number in [0, 10]' })
    .min(0, { error: 'expected a number in [0, 10]' })
    .max(10, { error: 'expected a number in [0, 10]' })
    .optional(),
  augmentation: z
    .enum(DETECTION_AUGMENTATIONS, { error: `expected one of ${DETECTION_AUGMENTATIONS.join(', ')}` })
    .optional(),
});

/** Input as a request gives it: every field optional; an empty array means "the default". */
export type DetectionConfigInput = { [K in keyof DetectionConfig]?: DetectionConfig[K] };

/** A config field that is out of range: the path, what it must be, and what it was. */
export class DetectionConfigError extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`${path.join('.')}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
    this.name = 'DetectionConfigError';
  }
}

/**
 * The full config: absent fields (and empty arrays) take SSDLite's values. Errors are
 * DetectionConfigError naming `field.<name>`, e.g. `detection.inputSize: expected a multiple of 32
 * in [64, 1024], got 100`.
 */
export function resolveDetectionConfig(input: unknown = {}, field = 'detection'): DetectionConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new DetectionConfigError([field], 'an object', input);
  }
  const cleaned = Object.fromEntries(
    Object.entries(input).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  );
  const parsed = DetectionConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      throw new DetectionConfigError(
        [field, issue.keys[0]],
        `a known field (${Object.keys(SSDLITE_CONFIG).join(', ')})`,
        issue.keys[0],
      );
    }
    const key = issue.path[0] as string;
    const expected = issue.message.replace(/^expected /, '');
    throw new DetectionConfigError([field, key], expected, (cleaned as Record<string, unknown>)[key]);
  }
  const defined = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
  return { ...SSDLITE_CONFIG, ...defined } as DetectionConfig;
}
