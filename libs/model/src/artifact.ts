// A model artifact: what a finished training publishes and what inference loads. On disk a
// version directory holds
//   spec.json            the network in the parity-fixture spec format (variant, genotype object,
//                        channels, layers, classes, in_channels, input_hw, auxiliary), so
//                        `rnas forward --spec spec.json --weights weights.safetensors` runs it
//   weights.safetensors  every parameter and batch-norm buffer under the reference (PyTorch) names
//                        and layouts: it loads into the reference network with load_state_dict
//   labels.json          the class names, index order
//   preprocessing.json   input height, width and channels, per-channel mean and std: an input
//                        pixel v in [0, 255] enters the network as (v / 255 - mean[c]) / std[c]
//   task.json            what the model does: {"task": "detection", "detection": {...}} with the
//                        head's config ("segmentation": {...}, "keypoints": {...} likewise; a
//                        keypoint model's config carries its keypoint names, skeleton, flip pairs
//                        and OKS sigmas); absent (models published before tasks) means
//                        classification. For a dense task, spec.json is its backbone and `classes`
//                        its classes (segmentation: the pixel classes; keypoints: the keypoints, labels.json their names).
import { lstat } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from '@rnas/engine';
import { BATCHES_TRACKED_SUFFIX, parseSpecFile, type NetworkSpec } from '@rnas/nas';
import {
  ConfigError,
  DetectionConfigError,
  resolveDetectionConfig,
  resolveKeypointConfig,
  resolveSegmentationConfig,
  taskNetwork,
  TASK_NAMES,
  type DetectionConfig,
  type KeypointConfig,
  type SegmentationConfig,
  type TaskModelSpec,
  type TaskName,
  type TaskNetwork,
} from '@rnas/tasks';
import { describe, ModelError } from './errors';
import { readBoundedFile, readJsonFile, writeFileSynced } from './files';

export const SPEC_FILE = 'spec.json';
export const WEIGHTS_FILE = 'weights.safetensors';
export const LABELS_FILE = 'labels.json';
export const PREPROCESSING_FILE = 'preprocessing.json';
/** The files every version has. */
export const ARTIFACT_FILES = [SPEC_FILE, WEIGHTS_FILE, LABELS_FILE, PREPROCESSING_FILE] as const;
/** Written with every new version; a version without it is a classifier. */
export const TASK_FILE = 'task.json';
const MAX_TASK_BYTES = 64 * 1024;

const LAYOUT = 'torch NCHW; conv weights [out,in,kh,kw]; depthwise [C,1,kh,kw]; linear [out,in]';
const MAX_SPEC_BYTES = 1024 * 1024;
const MAX_LABELS_BYTES = 4 * 1024 * 1024;
const MAX_PREPROCESSING_BYTES = 64 * 1024;
export const DEFAULT_MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024;
const MAX_LABEL_CHARS = 256;
const MAX_INPUT_SIDE = 4096;
const MAX_CHANNELS = 64;

/** How raw pixels become the network's input. */
export interface Preprocessing {
  readonly inputHeight: number;
  readonly inputWidth: number;
  readonly channels: number;
  /** Per channel, on the [0, 1] scale. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface ModelArtifact {
  /**
   * The network, auxiliary head included when it was trained with one (inference ignores it); a
   * detector's backbone, with `classes` its object classes.
   */
  readonly spec: NetworkSpec;
  /** What the model does; absent means classification. */
  readonly task?: TaskName;
  /** Detection: the head and its priors. */
  readonly detection?: DetectionConfig;
  /** Segmentation: the head's input size and training settings. */
  readonly segmentation?: SegmentationConfig;
  /** Keypoints: the crop size, training settings and the dataset's keypoints. */
  readonly keypoints?: KeypointConfig;
  readonly preprocessing: Preprocessing;
  /** Class names, one per classifier output. */
  readonly labels: readonly string[];
  /** Reference names and layouts. */
  readonly weights: Readonly<Record<string, HostTensor>>;
  /** Free-form strings stored in the weights file's safetensors metadata (dataset, accuracy, ...). */
  readonly metadata: Readonly<Record<string, string>>;
}

const finite = z
  .number({ error: 'expected a finite number' })
  .refine(Number.isFinite, { error: 'expected a finite number' });
const side = z
  .number({ error: `expected an integer in [1, ${MAX_INPUT_SIDE}]` })
  .int({ error: `expected an integer in [1, ${MAX_INPUT_SIDE}]` })
  .min(1, { error: `expected an integer in [1, ${MAX_INPUT_SIDE}]` })
  .max(MAX_INPUT_SIDE, { error: `expected an integer in [1, ${MAX_INPUT_SIDE}]` });
const PreprocessingSchema = z.strictObject({
  inputHeight: side,
  inputWidth: side,
  channels: z
    .number({ error: `expected an integer in [1, ${MAX_CHANNELS}]` })
    .int({ error: `expected an integer in [1, ${MAX_CHANNELS}]` })
    .min(1, { error: `expected an integer in [1, ${MAX_CHANNELS}]` })
    .max(MAX_CHANNELS, { error: `expected an integer in [1, ${MAX_CHANNELS}]` }),
  mean: z.array(finite, { error: 'expected an array of numbers' }).max(MAX_CHANNELS),
  std: z
    .array(
      finite.refine((v) => v > 0, { error: 'expected a positive number' }),
      {
        error: 'expected an array of numbers',
      },
    )
    .max(MAX_CHANNELS),
});

function invalid(source: string, message: string): ModelError {
  return new ModelError('INVALID_ARGUMENT', `${source}: ${message}`);
}

function formatPath(p: readonly PropertyKey[]): string {
  return p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
}

/** Validated preprocessing; errors name `source`, the field and the value. */
export function parsePreprocessing(value: unknown, source = 'preprocessing'): Preprocessing {
  const parsed = PreprocessingSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    let v: unknown = value;
    for (const k of issue.path)
      v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
    const where = issue.path.length > 0 ? formatPath(issue.path).slice(1) : '(root)';
    throw invalid(source, `${where}: ${issue.message}${issue.path.length > 0 ? `, got ${describe(v)}` : ''}`);
  }
  const p = parsed.data;
  for (const field of ['mean', 'std'] as const) {
    if (p[field].length !== p.channels) {
      throw invalid(
        source,
        `${field}: expected ${p.channels} values (one per channel), got ${p[field].length}`,
      );
    }
  }
  return p;
}

/** Validated class names: one per class, non-empty, at most 256 characters, no duplicates. */
export function parseLabels(value: unknown, classes: number, source = 'labels'): string[] {
  if (!Array.isArray(value))
    throw invalid(source, `expected an array of class names, got ${describe(value)}`);
  if (value.length !== classes) {
    throw invalid(source, `expected ${classes} class names (the network's classes), got ${value.length}`);
  }
  const seen = new Set<string>();
  value.forEach((label: unknown, i) => {
    if (typeof label !== 'string' || label.length === 0 || label.length > MAX_LABEL_CHARS) {
      throw invalid(
        source,
        `[${i}]: expected a name of 1 to ${MAX_LABEL_CHARS} characters, got ${describe(label)}`,
      );
    }
    if (seen.has(label)) throw invalid(source, `[${i}]: duplicate class name ${describe(label)}`);
    seen.add(label);
  });
  return value as string[];
}

/** The task fields of an artifact (task.json's contents once parsed). */
export type ArtifactTask = Pick<ModelArtifact, 'task' | 'detection' | 'segmentation' | 'keypoints'>;

/** The head config each task records in task.json under the task's own name. */
const TASK_CONFIGS = {
  detection: resolveDetectionConfig,
  segmentation: resolveSegmentationConfig,
  keypoints: resolveKeypointConfig,
} as const;
type ConfiguredTask = keyof typeof TASK_CONFIGS;
const CONFIGURED_TASKS = Object.keys(TASK_CONFIGS) as ConfiguredTask[];

/** The task part of an artifact: what `taskNetwork` builds (only the task's own config). */
export function taskSpecOf(artifact: Pick<ModelArtifact, 'spec'> & ArtifactTask): TaskModelSpec {
  const task = artifact.task ?? 'classification';
  if (task === 'classification') return { task, network: artifact.spec };
  return { task, network: artifact.spec, [task]: artifact[task] };
}

/** task.json's contents: the task and the configs the artifact has. */
export function taskFileJson(artifact: ArtifactTask): Record<string, unknown> {
  const json: Record<string, unknown> = { task: artifact.task ?? 'classification' };
  for (const name of CONFIGURED_TASKS) if (artifact[name] !== undefined) json[name] = artifact[name];
  return json;
}

/** Validated task.json contents; errors name `source`, the field and the value. */
export function parseTaskFile(value: unknown, source = TASK_FILE): ArtifactTask {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw invalid(source, `expected an object, got ${describe(value)}`);
  const { task, ...configs } = value as Record<string, unknown>;
  const unknown = Object.keys(configs).find((k) => !(CONFIGURED_TASKS as string[]).includes(k));
  if (unknown !== undefined) {
    throw invalid(source, `unknown field ${describe(unknown)} (known: task, ${CONFIGURED_TASKS.join(', ')})`);
  }
  if (!(TASK_NAMES as readonly unknown[]).includes(task)) {
    throw invalid(source, `task: expected one of ${TASK_NAMES.join(', ')}, got ${describe(task)}`);
  }
  const other = CONFIGURED_TASKS.find((name) => name !== task && configs[name] !== undefined);
  if (other !== undefined) throw invalid(source, `${other}: only a ${other} model has it`);
  if (task === 'classification') return { task };
  const name = task as ConfiguredTask;
  // A detector published before its config was recorded takes SSDLite's; the newer tasks always
  // recorded theirs, and a keypoint model's names and skeleton come from nowhere else.
  if (name !== 'detection' && configs[name] === undefined) {
    throw invalid(source, `${name}: required for a ${name} model`);
  }
  let config;
  try {
    config = TASK_CONFIGS[name](configs[name] ?? {}, name);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof DetectionConfigError) throw invalid(source, err.message);
    throw err;
  }
  if (name === 'keypoints' && (config as KeypointConfig).keypointNames.length === 0) {
    throw invalid(source, 'keypoints.keypointNames: expected the names of the keypoints, got []');
  }
  return { task: name, [name]: config };
}

/**
 * Checks weights against the network without making tensors: every parameter and buffer present
 * with its reference shape, float32 (or float64) and finite; nothing else but batch-norm
 * `num_batches_tracked` counters.
 */
export function checkWeights(
  network: Pick<TaskNetwork, 'params'>,
  weights: Readonly<Record<string, HostTensor>>,
  source = 'weights',
): void {
  const expected = new Map(network.params.map((p) => [p.name, p]));
  for (const name of Object.keys(weights)) {
    if (expected.has(name)) continue;
    const bn = name.endsWith(BATCHES_TRACKED_SUFFIX) ? name.slice(0, -BATCHES_TRACKED_SUFFIX.length) : null;
    if (bn !== null && expected.has(`${bn}.running_mean`)) continue;
    throw invalid(source, `unexpected tensor ${describe(name)} (not a parameter of this network)`);
  }
  for (const p of network.params) {
    const t = weights[p.name];
    if (t === undefined) throw invalid(source, `missing tensor '${p.name}'`);
    if (t.shape.length !== p.refShape.length || t.shape.some((d, i) => d !== p.refShape[i])) {
      throw invalid(
        source,
        `tensor '${p.name}' has shape [${t.shape.join(', ')}], expected [${p.refShape.join(', ')}]`,
      );
    }
    if (t.dtype !== 'F32' && t.dtype !== 'F64') {
      throw invalid(source, `tensor '${p.name}' has dtype ${t.dtype}, expected F32`);
    }
    const data = t.data as Float32Array | Float64Array;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]))
        throw invalid(source, `tensor '${p.name}' holds ${data[i]} at index ${i}`);
    }
  }
}

/**
 * Checks that the parts of an artifact fit together: a buildable network whose input size passes,
 * preprocessing for its channels, one label per class, weights of exactly this network.
 * Returns the network (it owns no tensors).
 */
export function validateArtifact(artifact: ModelArtifact, source = 'model'): TaskNetwork {
  let network: TaskNetwork;
  try {
    network = taskNetwork(
      taskSpecOf({ spec: artifact.spec, ...parseTaskFile(taskFileJson(artifact), `${source}: task`) }),
    );
  } catch (err) {
    if (err instanceof ModelError) throw err;
    throw invalid(source, (err as Error).message);
  }
  const pre = parsePreprocessing(artifact.preprocessing, `${source}: preprocessing`);
  if (pre.channels !== artifact.spec.inChannels) {
    throw invalid(
      source,
      `preprocessing.channels is ${pre.channels}, the network takes ${artifact.spec.inChannels} input channels`,
    );
  }
  // The dense heads' records are laid out at their config's input size (label maps, crops).
  const dense =
    artifact.task === 'segmentation' || artifact.task === 'keypoints' ? artifact[artifact.task] : undefined;
  if (dense !== undefined && (dense.inputHeight !== pre.inputHeight || dense.inputWidth !== pre.inputWidth)) {
    throw invalid(
      source,
      `preprocessing input is ${pre.inputHeight}x${pre.inputWidth}, ${artifact.task}'s config says ${dense.inputHeight}x${dense.inputWidth}`,
    );
  }
  try {
    network.checkInput(pre.inputHeight, pre.inputWidth);
  } catch (err) {
    throw invalid(source, `input ${pre.inputHeight}x${pre.inputWidth}: ${(err as Error).message}`);
  }
  parseLabels(artifact.labels, artifact.spec.classes, `${source}: labels`);
  checkWeights(network, artifact.weights, `${source}: weights`);
  for (const [key, value] of Object.entries(artifact.metadata)) {
    if (typeof value !== 'string')
      throw invalid(source, `metadata.${key}: expected a string, got ${describe(value)}`);
  }
  return network;
}

/** spec.json's contents: the parity-fixture spec format, readable by `parseSpecFile` and the CLI. */
export function specFileJson(spec: NetworkSpec, preprocessing: Preprocessing): Record<string, unknown> {
  return {
    variant: spec.variant,
    genotype: {
      normal: spec.genotype.normal,
      normalConcat: spec.genotype.normalConcat,
      reduce: spec.genotype.reduce,
      reduceConcat: spec.genotype.reduceConcat,
    },
    channels: spec.channels,
    layers: spec.layers,
    classes: spec.classes,
    in_channels: spec.inChannels,
    ...(preprocessing.inputHeight === preprocessing.inputWidth
      ? { input_hw: preprocessing.inputHeight }
      : {}),
    auxiliary: spec.auxiliary,
    layout: LAYOUT,
  };
}

/** Writes the four files into `dir` (which must exist and not hold them), each flushed to disk. */
export async function writeArtifactFiles(dir: string, artifact: ModelArtifact): Promise<void> {
  validateArtifact(artifact);
  const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
  await writeFileSynced(path.join(dir, SPEC_FILE), json(specFileJson(artifact.spec, artifact.preprocessing)));
  await writeFileSynced(
    path.join(dir, WEIGHTS_FILE),
    encodeSafetensors({ ...artifact.weights }, { ...artifact.metadata, format: 'pt' }),
  );
  await writeFileSynced(path.join(dir, LABELS_FILE), json(artifact.labels));
  await writeFileSynced(path.join(dir, TASK_FILE), json(taskFileJson(artifact)));
  const { inputHeight, inputWidth, channels, mean, std } = artifact.preprocessing;
  await writeFileSynced(
    path.join(dir, PREPROCESSING_FILE),
    json({ inputHeight, inputWidth, channels, mean, std }),
  );
}

export interface LoadArtifactOptions {
  /** Largest weights file accepted; default 1 GiB. */
  maxWeightsBytes?: number;
}

/**
 * Reads and validates the artifact in a version directory. Every problem (a missing, empty,
 * oversized or non-regular file, invalid JSON, a bad field, weights of another network) is an
 * error naming the file and what is wrong; nothing is loaded onto the tensor backend.
 */
export async function loadModelArtifact(
  dir: string,
  options: LoadArtifactOptions = {},
): Promise<ModelArtifact> {
  const maxWeights = options.maxWeightsBytes ?? DEFAULT_MAX_WEIGHTS_BYTES;
  const specPath = path.join(dir, SPEC_FILE);
  let spec: NetworkSpec;
  let inputHw: number | null;
  try {
    const parsed = parseSpecFile(await readJsonFile(specPath, MAX_SPEC_BYTES), specPath);
    spec = parsed.network;
    inputHw = parsed.inputHw;
  } catch (err) {
    if (err instanceof ModelError) throw err;
    throw new ModelError('FAILED_PRECONDITION', (err as Error).message);
  }
  const prePath = path.join(dir, PREPROCESSING_FILE);
  const labelsPath = path.join(dir, LABELS_FILE);
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  try {
    const preprocessing = parsePreprocessing(await readJsonFile(prePath, MAX_PREPROCESSING_BYTES), prePath);
    if (inputHw !== null && (inputHw !== preprocessing.inputHeight || inputHw !== preprocessing.inputWidth)) {
      throw invalid(
        specPath,
        `input_hw is ${inputHw}, ${PREPROCESSING_FILE} says ${preprocessing.inputHeight}x${preprocessing.inputWidth}`,
      );
    }
    const labels = parseLabels(await readJsonFile(labelsPath, MAX_LABELS_BYTES), spec.classes, labelsPath);
    const taskPath = path.join(dir, TASK_FILE);
    const task = (await lstat(taskPath).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    ))
      ? parseTaskFile(await readJsonFile(taskPath, MAX_TASK_BYTES), taskPath)
      : {};
    const bytes = await readBoundedFile(weightsPath, maxWeights);
    let decoded;
    try {
      decoded = decodeSafetensors(bytes, weightsPath);
    } catch (err) {
      throw invalid(weightsPath, (err as Error).message);
    }
    const { format: _format, ...metadata } = decoded.metadata;
    const artifact: ModelArtifact = {
      spec,
      ...task,
      preprocessing,
      labels,
      weights: decoded.tensors,
      metadata,
    };
    validateArtifact(artifact, dir);
    return artifact;
  } catch (err) {
    // A stored artifact that does not validate is a broken version, not a bad request.
    if (err instanceof ModelError && err.code === 'INVALID_ARGUMENT') {
      throw new ModelError('FAILED_PRECONDITION', err.message);
    }
    throw err;
  }
}
