// The evaluation recipe of RELATIVENAS.md section 7 (training a discovered cell from scratch),
// with every knob, the paper's CIFAR defaults, and the one validation every entry point (service,
// CLI, benchmark, tests) goes through. Field names follow the TrainingRecipe protobuf message.
import { z } from 'zod';
import { describe, FieldError } from './errors';

export const LEARNING_RATE_SCHEDULES = ['cosine', 'constant', 'poly'] as const;
export type LearningRateSchedule = (typeof LEARNING_RATE_SCHEDULES)[number];

export interface Recipe {
  /** Passes over the training split. */
  readonly epochs: number;
  readonly batchSize: number;
  /** SGD learning rate of the first epoch. */
  readonly learningRate: number;
  readonly learningRateSchedule: LearningRateSchedule;
  /** Where the cosine schedule ends (reached after the last epoch, as in PyTorch's CosineAnnealingLR). */
  readonly learningRateMin: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** Weight of the auxiliary head's loss, when the network has the head. */
  readonly auxiliaryWeight: number;
  /** Cutout square side in pixels; 0 disables cutout. */
  readonly cutout: number;
  /** Zero padding of the random crop; 0 disables the crop. */
  readonly cropPadding: number;
  readonly horizontalFlip: boolean;
  /** Drop-path probability of the last epoch: epoch e (from 0) uses `dropPath * e / epochs`. */
  readonly dropPath: number;
  /** Global gradient-norm clip; 0 disables clipping. */
  readonly gradClip: number;
  readonly labelSmoothing: number;
  /** Training images per epoch, a fresh random draw each epoch; 0: the whole training split. */
  readonly trainImages: number;
  /** Test images evaluated after each epoch (the first ones of the split); 0: the whole split. */
  readonly evalImages: number;
  /** Drives initialisation, data order, augmentation and drop path. */
  readonly seed: number;
}

/** A recipe as a request gives it: any field may be left out and takes the default. */
export type RecipeInput = Partial<Recipe>;

/** Section 7's CIFAR recipe. Use batch 96 on a GPU with little memory, as the paper does. */
export const CIFAR_RECIPE: Recipe = {
  epochs: 600,
  batchSize: 128,
  learningRate: 0.025,
  learningRateSchedule: 'cosine',
  learningRateMin: 0,
  momentum: 0.9,
  weightDecay: 3e-4,
  auxiliaryWeight: 0.4,
  cutout: 16,
  cropPadding: 4,
  horizontalFlip: true,
  dropPath: 0.3,
  gradClip: 5,
  labelSmoothing: 0,
  trainImages: 0,
  evalImages: 0,
  seed: 0,
};

/**
 * Section 7's ImageNet recipe: label smoothing 0.1 and a cosine schedule; the other values are the
 * reference's train_imagenet.py (250 epochs, lr 0.1, weight decay 3e-5, no drop path, no cutout).
 */
export const IMAGENET_RECIPE: Recipe = {
  ...CIFAR_RECIPE,
  epochs: 250,
  learningRate: 0.1,
  weightDecay: 3e-5,
  cutout: 0,
  dropPath: 0,
  labelSmoothing: 0.1,
};

/**
 * SSDLite's detection recipe (DENSE.md section 2, `SSDLite/train.py`): SGD lr 0.01, momentum 0.9,
 * weight decay 5e-4, cosine to 0 over 200 epochs, batch 32; none of the classification recipe's
 * auxiliary head, drop path, cutout, crop padding or gradient clipping (the task's own box-aware
 * augmentation replaces them; horizontal flip is part of it).
 */
export const SSDLITE_RECIPE: Recipe = {
  ...CIFAR_RECIPE,
  epochs: 200,
  batchSize: 32,
  learningRate: 0.01,
  weightDecay: 5e-4,
  auxiliaryWeight: 0,
  cutout: 0,
  cropPadding: 0,
  dropPath: 0,
  gradClip: 0,
};

/**
 * BiSeNet's segmentation recipe (DENSE.md section 3, `B/train.py`): SGD lr 0.01, momentum 0.9,
 * weight decay 5e-4, the poly schedule (power 0.9) stepped per epoch, batch 16, about the
 * reference's 80k iterations of 16 Cityscapes crops (430 epochs of 2975 images). The reference's
 * 1000-iteration warm-up and its OHEM loss are left out; the head's 10x learning rate is the
 * segmentation config's headLrScale. Augmentation is the task's own (scale, crop, flip).
 */
export const BISENET_RECIPE: Recipe = {
  ...SSDLITE_RECIPE,
  epochs: 430,
  batchSize: 16,
  learningRate: 0.01,
  learningRateSchedule: 'poly',
  weightDecay: 5e-4,
};

/**
 * SimpleBaseline's keypoint recipe (DENSE.md section 4): 140 epochs of batch 128 with the task's
 * own augmentation (scale, rotation, flip). The reference trains with Adam at 1e-3; this trainer's
 * optimiser is SGD, so the recipe is SGD with momentum 0.9 at a learning rate that moves the
 * heatmap MSE (whose gradients are small) at a comparable pace, cosine to 0, no weight decay.
 */
export const SIMPLEBASELINE_RECIPE: Recipe = {
  ...SSDLITE_RECIPE,
  epochs: 140,
  batchSize: 128,
  learningRate: 0.1,
  weightDecay: 0,
};

export const RECIPE_PRESETS = {
  cifar: CIFAR_RECIPE,
  imagenet: IMAGENET_RECIPE,
  ssdlite: SSDLITE_RECIPE,
  bisenet: BISENET_RECIPE,
  simplebaseline: SIMPLEBASELINE_RECIPE,
} as const;
export type RecipePreset = keyof typeof RECIPE_PRESETS;

/** Each task's default recipe: what a request's absent recipe fields take. */
export const TASK_RECIPE_PRESETS = {
  classification: 'cifar',
  detection: 'ssdlite',
  segmentation: 'bisenet',
  keypoints: 'simplebaseline',
} as const satisfies Record<string, RecipePreset>;

const MAX_INT32 = 2 ** 31 - 1;

function int(min: number, max: number): z.ZodOptional<z.ZodNumber> {
  const error = `expected an integer in [${min}, ${max}]`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error }).optional();
}

/** A finite number in [min, max] (or [min, max) with `open`); NaN and infinities never pass. */
function real(min: number, max: number, open = false): z.ZodOptional<z.ZodNumber> {
  const error = `expected a number in [${min}, ${max}${open ? ')' : ']'}`;
  const upper = open ? z.number({ error }).lt(max, { error }) : z.number({ error }).max(max, { error });
  return upper.min(min, { error }).optional();
}

/**
 * The bounds keep out what cannot be meant (an epoch count no machine finishes, a learning rate
 * that diverges at once) as well as what cannot work: batch norm needs two images per batch.
 */
const RecipeSchema = z.strictObject({
  epochs: int(1, 100_000),
  batchSize: int(2, 4096),
  learningRate: z
    .number({ error: 'expected a number in (0, 10]' })
    .gt(0, { error: 'expected a number in (0, 10]' })
    .max(10, { error: 'expected a number in (0, 10]' })
    .optional(),
  learningRateSchedule: z
    .enum(LEARNING_RATE_SCHEDULES, { error: `expected one of ${LEARNING_RATE_SCHEDULES.join(', ')}` })
    .optional(),
  learningRateMin: real(0, 10),
  momentum: real(0, 1, true),
  weightDecay: real(0, 1),
  auxiliaryWeight: real(0, 10),
  cutout: int(0, 1024),
  cropPadding: int(0, 256),
  horizontalFlip: z.boolean({ error: 'expected a boolean' }).optional(),
  dropPath: real(0, 1, true),
  gradClip: real(0, 1e6),
  labelSmoothing: real(0, 1, true),
  trainImages: int(0, MAX_INT32),
  evalImages: int(0, MAX_INT32),
  seed: int(0, 2 ** 32 - 1),
});

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/**
 * The full recipe for a request: absent fields (and `undefined` ones) take the preset's values.
 * Errors are INVALID_ARGUMENT and name the field and the value, e.g.
 * `recipe.epochs: expected an integer in [1, 100000], got 1000000000`.
 */
export function resolveRecipe(input: unknown = {}, preset: RecipePreset = 'cifar', field = 'recipe'): Recipe {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new FieldError([field], 'an object', input, `${field}: expected an object, got ${describe(input)}`);
  }
  const parsed = RecipeSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(CIFAR_RECIPE).join(', ');
      throw new FieldError(
        [field, issue.keys[0]],
        `a known field (known: ${known})`,
        valueAt(input, [issue.keys[0]]),
        `${field}: unknown field ${JSON.stringify(issue.keys[0])} (known: ${known})`,
      );
    }
    const name = [field, ...issue.path.map(String)].join('.');
    const got = valueAt(input, issue.path);
    throw new FieldError(
      [field, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))],
      issue.message.startsWith('expected ') ? issue.message.slice('expected '.length) : issue.message,
      got,
      `${name}: ${issue.message}, got ${describe(got)}`,
    );
  }
  const defined = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
  const recipe: Recipe = { ...RECIPE_PRESETS[preset], ...defined };
  if (recipe.learningRateMin > recipe.learningRate) {
    const expected = `a number in [0, learningRate = ${recipe.learningRate}]`;
    throw new FieldError(
      [field, 'learningRateMin'],
      expected,
      recipe.learningRateMin,
      `${field}.learningRateMin: expected ${expected}, got ${recipe.learningRateMin}`,
    );
  }
  return recipe;
}
