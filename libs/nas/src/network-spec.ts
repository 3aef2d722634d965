import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Genotype } from './genotype';
import { resolveGenotype } from './genotypes';
import type { NetworkSpec } from './network';

/**
 * A spec file as the parity fixtures write it (`fixtures/parity/*.spec.json`): the network, the
 * input size and the training hyperparameters, snake_case. `genotype` is a published name or a
 * genotype object. Unknown keys are refused so that a misspelt hyperparameter cannot go unnoticed.
 */
const SpecFileSchema = z.strictObject({
  variant: z.enum(['cifar', 'imagenet']),
  genotype: z.unknown(),
  channels: z.number().int().positive(),
  layers: z.number().int().positive(),
  classes: z.number().int().positive(),
  in_channels: z.number().int().positive().optional(),
  input_hw: z.number().int().positive().optional(),
  auxiliary: z.boolean().optional(),
  auxiliary_weight: z.number().nonnegative().optional(),
  batchnorm_eps: z.number().positive().optional(),
  batchnorm_momentum: z.number().min(0).max(1).optional(),
  drop_path: z.number().min(0).lt(1).optional(),
  label_smoothing: z.number().min(0).lt(1).optional(),
  lr: z.number().nonnegative().optional(),
  momentum: z.number().min(0).max(1).optional(),
  weight_decay: z.number().nonnegative().optional(),
  grad_clip: z.number().positive().nullable().optional(),
  seed: z.number().int().optional(),
  loss: z.string().optional(),
  layout: z.string().optional(),
});

/** A parsed spec file: the network plus everything a forward pass or a training step needs. */
export interface SpecFile {
  readonly network: NetworkSpec;
  /** Image height and width, when the file states it. */
  readonly inputHw: number | null;
  readonly bnEps: number;
  readonly bnMomentum: number;
  readonly dropPath: number;
  readonly auxiliaryWeight: number;
  readonly labelSmoothing: number;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly gradClip: number | null;
  readonly seed: number;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
}

function specGenotype(value: unknown, source: string): Genotype {
  try {
    return resolveGenotype(value, `${source}: genotype`);
  } catch (err) {
    // A bad name's error does not say where the name came from.
    const message = (err as Error).message;
    throw new Error(message.startsWith(source) ? message : `${source}: genotype: ${message}`);
  }
}

/** Validates a `JSON.parse`d spec; errors name `source`, the field and the value's problem. */
export function parseSpecFile(value: unknown, source = 'spec'): SpecFile {
  const parsed = SpecFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${source}: ${issue.path.length > 0 ? `${formatPath(issue.path).slice(1)}: ` : ''}${issue.message}`,
    );
  }
  const s = parsed.data;
  if (s.loss !== undefined && s.loss !== 'mean softmax cross-entropy') {
    throw new Error(`${source}: loss: only 'mean softmax cross-entropy' is supported, got '${s.loss}'`);
  }
  return {
    network: {
      variant: s.variant,
      genotype: specGenotype(s.genotype, source),
      channels: s.channels,
      layers: s.layers,
      classes: s.classes,
      inChannels: s.in_channels ?? 3,
      auxiliary: s.auxiliary ?? false,
    },
    inputHw: s.input_hw ?? null,
    bnEps: s.batchnorm_eps ?? 1e-5,
    bnMomentum: s.batchnorm_momentum ?? 0.1,
    dropPath: s.drop_path ?? 0,
    auxiliaryWeight: s.auxiliary_weight ?? 0.4,
    labelSmoothing: s.label_smoothing ?? 0,
    lr: s.lr ?? 0.025,
    momentum: s.momentum ?? 0.9,
    weightDecay: s.weight_decay ?? 3e-4,
    gradClip: s.grad_clip === undefined ? 5 : s.grad_clip,
    seed: s.seed ?? 0,
  };
}

/** Reads and parses a spec file; a missing, unreadable or non-JSON file gives an error naming it. */
export async function readSpecFile(path: string): Promise<SpecFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read spec: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  return parseSpecFile(value, path);
}
