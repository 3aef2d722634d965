// StartTraining input, checked at the door: the cell (a genotype, or a succeeded search's
// result), the network around it, the dataset, the recipe and the model name. Sizes the dataset
// decides (classes, input channels and size) stay 0 here and are filled in when the training
// opens the dataset. Errors name the protobuf field and the value.
import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from '@rnas/grpc';
import { checkDatasetUri, DATASET_SCHEMES, parseDatasetUri, schemeTask } from '@rnas/data';
import { InvalidRequestError } from '@rnas/jobs';
import {
  countParams,
  genotypeFromProto,
  Network,
  networkSpecFromProto,
  NetworkSpecProtoError,
  type Genotype,
  type NetworkSpecFields,
} from '@rnas/nas';
import {
  LearningRateSchedule,
  type StartTrainingRequest,
  type TrainingRecipe as TrainingRecipeProto,
} from '@rnas/proto';
import { validateModelName } from '@rnas/model';
import { resolveRecipe, TASK_RECIPE_PRESETS, type Recipe, type RecipeInput } from '@rnas/train';
import {
  detectionConfigFromProto,
  keypointConfigFromProto,
  segmentationConfigFromProto,
  taskFromProto,
  taskProtoName,
  TaskProtoError,
  type TaskModelSpec,
  type TaskName,
} from '@rnas/tasks';

/** The network the request asks for; 0 for a size the dataset decides. */
export type RequestedSpec = Omit<NetworkSpecFields, 'genotype'>;

/** What a stored training runs with. */
export interface ResolvedTraining {
  readonly genotype: Genotype;
  /** The search the genotype came from; empty when the request gave the genotype. */
  readonly searchId: string;
  readonly spec: RequestedSpec;
  readonly datasetUri: string;
  readonly recipe: Recipe;
  readonly modelName: string;
  /** What the network is trained for. */
  readonly task: TaskName;
  /** A dense task's head config, resolved (only the task's own is set). */
  readonly configs: HeadConfigs;
}

/** The head configs of the dense tasks, keyed by task; a training has its own task's only. */
export type HeadConfigs = Pick<TaskModelSpec, DenseTask>;
export type DenseTask = 'detection' | 'segmentation' | 'keypoints';
export const DENSE_TASKS: readonly DenseTask[] = ['detection', 'segmentation', 'keypoints'];

/** Height and width of a dense task's network input, from its config. */
export function denseInputSize(task: DenseTask, configs: HeadConfigs): { height: number; width: number } {
  if (task === 'detection') {
    const size = (configs.detection as NonNullable<HeadConfigs['detection']>).inputSize;
    return { height: size, width: size };
  }
  const config = configs[task] as NonNullable<HeadConfigs['segmentation' | 'keypoints']>;
  return { height: config.inputHeight, width: config.inputWidth };
}

export interface TrainingLimits {
  readonly dataRoots: readonly string[];
  /** The search service's state directory (for a search id). */
  /** The genotype of a succeeded search, by id (SearchService.GetSearch). */
  searchGenotype(searchId: string): Promise<Genotype>;
}

/** The paper's CIFAR network: 36 channels, 20 cells (RELATIVENAS.md section 7). */
const DEFAULT_CHANNELS = 36;
const DEFAULT_LAYERS = 20;
/** The dense tasks' backbone of DENSE.md section 1: the ImageNet network at C=46 with 14 cells. */
const DENSE_CHANNELS = 46;
const DENSE_LAYERS = 14;

/** Parameters beyond this are no network this service can train (DARTS-size ones have ~3.3M). */
const MAX_PARAMETERS = 200_000_000;
function resolveSpec(
  request: StartTrainingRequest,
  genotype: Genotype,
  task: TaskName,
  configs: HeadConfigs,
): RequestedSpec {
  let s: NetworkSpecFields;
  try {
    s = networkSpecFromProto(request.spec, 'spec');
  } catch (err) {
    if (err instanceof NetworkSpecProtoError)
      throw new InvalidArgumentError(err.field, err.value, err.reason);
    throw err;
  }
  if (s.genotype !== undefined) {
    throw new InvalidArgumentError(
      'spec.genotype',
      '(a genotype)',
      'must be left empty: the cell comes from genotype or search_id',
    );
  }
  const dense = task !== 'classification';
  let inputSize = s.inputSize;
  if (dense) {
    // A dense task's backbone is the ImageNet network (DENSE.md section 1), without auxiliary head.
    if (request.spec !== undefined && request.spec.variant !== 0 && s.variant !== 'imagenet') {
      throw new InvalidArgumentError(
        'spec.variant',
        s.variant,
        `${task} needs the ImageNet variant (or leave it unset)`,
      );
    }
    if (s.auxiliary) {
      throw new InvalidArgumentError('spec.auxiliary', true, `${task} trains no auxiliary head`);
    }
    if (s.inChannels !== 0 && s.inChannels !== 3) {
      throw new InvalidArgumentError(
        'spec.input_channels',
        s.inChannels,
        `${task} takes RGB images (3 or 0)`,
      );
    }
    // The input size is the head config's (a square one's side; else the height).
    const { height, width } = denseInputSize(task, configs);
    const field = task === 'detection' ? 'detection.input_size' : `${task}.input_height`;
    if (s.inputSize !== 0 && (s.inputSize !== height || height !== width)) {
      throw new InvalidArgumentError(
        'spec.input_size',
        s.inputSize,
        `0 or ${field} (${height}x${width}): the network's input is the ${task} config's`,
      );
    }
    inputSize = height;
  }
  const spec: RequestedSpec = {
    variant: dense ? 'imagenet' : s.variant,
    channels: s.channels === 0 ? (dense ? DENSE_CHANNELS : DEFAULT_CHANNELS) : s.channels,
    layers: s.layers === 0 ? (dense ? DENSE_LAYERS : DEFAULT_LAYERS) : s.layers,
    classes: s.classes,
    inChannels: dense ? 3 : s.inChannels,
    inputSize,
    auxiliary: s.auxiliary,
  };
  // The network's structure does not depend on the sizes the dataset decides: build its layout
  // (no tensors) with stand-ins to find a spec that cannot work, or is absurdly large, now.
  let parameters: number;
  try {
    const layout = new Network({
      ...spec,
      genotype,
      classes: spec.classes || 10,
      inChannels: spec.inChannels || 3,
    });
    parameters = countParams(layout.params);
  } catch (err) {
    throw new InvalidRequestError(`invalid spec: ${(err as Error).message}`);
  }
  if (parameters > MAX_PARAMETERS) {
    throw new InvalidRequestError(
      `invalid spec: channels=${spec.channels}, layers=${spec.layers} make ${parameters} parameters, more than the ${MAX_PARAMETERS} this service trains`,
    );
  }
  return spec;
}

function recipeInput(proto: TrainingRecipeProto | undefined): RecipeInput {
  if (proto === undefined) return {};
  const { learningRateSchedule, ...rest } = proto;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  switch (learningRateSchedule) {
    case LearningRateSchedule.LEARNING_RATE_SCHEDULE_UNSPECIFIED:
      return defined;
    case LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE:
      return { ...defined, learningRateSchedule: 'cosine' };
    case LearningRateSchedule.LEARNING_RATE_SCHEDULE_CONSTANT:
      return { ...defined, learningRateSchedule: 'constant' };
    case LearningRateSchedule.LEARNING_RATE_SCHEDULE_POLY:
      return { ...defined, learningRateSchedule: 'poly' };
    default:
      throw new InvalidArgumentError(
        'recipe.learning_rate_schedule',
        learningRateSchedule,
        'expected LEARNING_RATE_SCHEDULE_COSINE, LEARNING_RATE_SCHEDULE_CONSTANT or LEARNING_RATE_SCHEDULE_POLY',
      );
  }
}

/** The recipe; a bad field is the library's FieldError, which the handler maps to the protobuf field. */
function resolveTrainingRecipe(proto: TrainingRecipeProto | undefined, task: TaskName): Recipe {
  const input = recipeInput(proto);
  return resolveRecipe(
    { ...input, seed: input.seed ?? randomInt(0, 2 ** 32 - 1) },
    TASK_RECIPE_PRESETS[task],
    'recipe',
  );
}

const CONFIG_FROM_PROTO = {
  detection: (r: StartTrainingRequest) => detectionConfigFromProto(r.detection, 'detection'),
  segmentation: (r: StartTrainingRequest) => segmentationConfigFromProto(r.segmentation, 'segmentation'),
  keypoints: (r: StartTrainingRequest) => keypointConfigFromProto(r.keypoints, 'keypoints'),
};

function resolveTask(request: StartTrainingRequest): { task: TaskName; configs: HeadConfigs } {
  try {
    const task = taskFromProto(request.task, 'task');
    for (const other of DENSE_TASKS) {
      if (other !== task && request[other] !== undefined) {
        throw new InvalidArgumentError(
          other,
          `(a ${other} config)`,
          `only with task ${taskProtoName(other)}`,
        );
      }
    }
    if (task === 'classification') return { task, configs: {} };
    // A bad field is a field issue (<task>.<field>) that the handler maps to the protobuf field.
    return { task, configs: { [task]: CONFIG_FROM_PROTO[task](request) } };
  } catch (err) {
    if (err instanceof TaskProtoError) throw new InvalidArgumentError(err.field, err.value, err.reason);
    throw err;
  }
}

/** A dataset of the task's kind: labelled images, boxes, label maps or person keypoints. */
function checkDatasetKind(uri: string, task: TaskName): void {
  const scheme = parseDatasetUri(uri).scheme;
  const kind = schemeTask(scheme);
  if (kind !== task) {
    const schemes = DATASET_SCHEMES.filter((s) => schemeTask(s) === task).map((s) => `${s}:`);
    throw new InvalidArgumentError(
      'dataset_uri',
      uri,
      `a ${task} dataset (${schemes.join(' or ')}) for task ${taskProtoName(task)} ` +
        `(${scheme}: is a ${kind} dataset: set task ${taskProtoName(kind)})`,
    );
  }
}

/** Most edges a requested genotype's cell may have (2 per node). */
export const MAX_CELL_EDGES = 64;

/** The validated training of a StartTraining request. */
export async function resolveStartTraining(
  request: StartTrainingRequest,
  limits: TrainingLimits,
): Promise<ResolvedTraining> {
  let modelName: string;
  try {
    modelName = validateModelName(request.modelName, 'model_name');
  } catch (err) {
    throw new InvalidRequestError(`invalid ${(err as Error).message}`);
  }
  const { task, configs } = resolveTask(request);
  const recipe = resolveTrainingRecipe(request.recipe, task);
  const datasetUri = await checkDatasetUri(request.datasetUri, limits.dataRoots);
  checkDatasetKind(datasetUri, task);
  const architecture = request.architecture;
  let genotype: Genotype;
  let searchId = '';
  switch (architecture?.$case) {
    case 'genotype':
      // A cell is a few nodes (RelativeNAS searches 4); thousands would be accepted by the cell
      // rules yet make a network no worker finishes. Counted before anything walks the edges.
      for (const cell of ['normal', 'reduce'] as const) {
        const edges = architecture.value[cell].length;
        if (edges > MAX_CELL_EDGES) {
          throw new InvalidArgumentError(
            `genotype.${cell}`,
            `${edges} edges`,
            `expected at most ${MAX_CELL_EDGES} edges (${MAX_CELL_EDGES / 2} nodes) per cell`,
          );
        }
      }
      try {
        genotype = genotypeFromProto(architecture.value, 'genotype');
      } catch (err) {
        throw new InvalidRequestError(`invalid ${(err as Error).message}`);
      }
      break;
    case 'searchId':
      searchId = architecture.value;
      genotype = await limits.searchGenotype(searchId);
      break;
    default:
      throw new InvalidArgumentError(
        'architecture',
        undefined,
        'give a genotype or the id of a succeeded search',
      );
  }
  return {
    genotype,
    searchId,
    spec: resolveSpec(request, genotype, task, configs),
    datasetUri,
    recipe,
    modelName,
    task,
    configs,
  };
}
