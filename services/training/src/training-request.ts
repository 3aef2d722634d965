// StartTraining input, checked at the door: the cell (a genotype, or a succeeded search's
// result), the network around it, the dataset, the recipe and the model name. Sizes the dataset
// decides (classes, input channels and size) stay 0 here and are filled in when the training
// opens the dataset. Errors name the protobuf field and the value.
import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from '@rnas/grpc';
import { checkDatasetUri, DETECTION_SCHEMES, isDetectionScheme, parseDatasetUri } from '@rnas/data';
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
import { resolveRecipe, type Recipe, type RecipeInput } from '@rnas/train';
import {
  detectionConfigFromProto,
  taskFromProto,
  TaskProtoError,
  type DetectionConfig,
  type TaskName,
} from '@rnas/tasks';
import { searchGenotype } from './search-lookup';

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
  /** Detection: the head, resolved. */
  readonly detection?: DetectionConfig;
}

export interface TrainingLimits {
  readonly dataRoots: readonly string[];
  /** The search service's state directory (for a search id). */
  readonly searchStateDir: string;
}

/** The paper's CIFAR network: 36 channels, 20 cells (RELATIVENAS.md section 7). */
const DEFAULT_CHANNELS = 36;
const DEFAULT_LAYERS = 20;
/** The detection backbone of DENSE.md section 1: the ImageNet network at C=46 with 14 cells. */
const DETECTION_CHANNELS = 46;
const DETECTION_LAYERS = 14;

/** Parameters beyond this are no network this service can train (DARTS-size ones have ~3.3M). */
const MAX_PARAMETERS = 200_000_000;
function resolveSpec(
  request: StartTrainingRequest,
  genotype: Genotype,
  task: TaskName,
  detection: DetectionConfig | undefined,
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
  const detecting = detection !== undefined;
  if (detecting) {
    // The detector's backbone is the ImageNet network (DENSE.md section 1), without auxiliary head.
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
    if (s.inputSize !== 0 && s.inputSize !== detection.inputSize) {
      throw new InvalidArgumentError(
        'spec.input_size',
        s.inputSize,
        `0 or detection.input_size (${detection.inputSize}): the detector's input is detection.input_size`,
      );
    }
  }
  const spec: RequestedSpec = {
    variant: detecting ? 'imagenet' : s.variant,
    channels: s.channels === 0 ? (detecting ? DETECTION_CHANNELS : DEFAULT_CHANNELS) : s.channels,
    layers: s.layers === 0 ? (detecting ? DETECTION_LAYERS : DEFAULT_LAYERS) : s.layers,
    classes: s.classes,
    inChannels: detecting ? 3 : s.inChannels,
    inputSize: detecting ? detection.inputSize : s.inputSize,
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
    default:
      throw new InvalidArgumentError(
        'recipe.learning_rate_schedule',
        learningRateSchedule,
        'expected LEARNING_RATE_SCHEDULE_COSINE or LEARNING_RATE_SCHEDULE_CONSTANT',
      );
  }
}

/** The recipe; a bad field is the library's FieldError, which the handler maps to the protobuf field. */
function resolveTrainingRecipe(proto: TrainingRecipeProto | undefined, task: TaskName): Recipe {
  const input = recipeInput(proto);
  return resolveRecipe(
    { ...input, seed: input.seed ?? randomInt(0, 2 ** 32 - 1) },
    task === 'detection' ? 'ssdlite' : 'cifar',
    'recipe',
  );
}

function resolveTask(request: StartTrainingRequest): { task: TaskName; detection?: DetectionConfig } {
  let task: TaskName;
  try {
    task = taskFromProto(request.task, 'task');
  } catch (err) {
    if (err instanceof TaskProtoError) throw new InvalidArgumentError(err.field, err.value, err.reason);
    throw err;
  }
  if (task !== 'detection') {
    if (request.detection !== undefined) {
      throw new InvalidArgumentError('detection', '(a DetectionConfig)', 'only with task TASK_DETECTION');
    }
    return { task };
  }
  // A bad field is a field issue (detection.<field>) that the handler maps to the protobuf field.
  try {
    return { task, detection: detectionConfigFromProto(request.detection, 'detection') };
  } catch (err) {
    if (err instanceof TaskProtoError) throw new InvalidArgumentError(err.field, err.value, err.reason);
    throw err;
  }
}

/** A dataset of the task's kind: images with labels for classification, boxes for detection. */
function checkDatasetKind(uri: string, task: TaskName): void {
  const scheme = parseDatasetUri(uri).scheme;
  const detecting = isDetectionScheme(scheme);
  if (detecting !== (task === 'detection')) {
    throw new InvalidArgumentError(
      'dataset_uri',
      uri,
      task === 'detection'
        ? `a detection dataset (${DETECTION_SCHEMES.map((s) => `${s}:`).join(' or ')}) for task TASK_DETECTION`
        : `a classification dataset for task ${task} (${scheme}: holds boxes: set task TASK_DETECTION)`,
    );
  }
}

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
  const { task, detection } = resolveTask(request);
  const recipe = resolveTrainingRecipe(request.recipe, task);
  const datasetUri = await checkDatasetUri(request.datasetUri, limits.dataRoots);
  checkDatasetKind(datasetUri, task);
  const architecture = request.architecture;
  let genotype: Genotype;
  let searchId = '';
  switch (architecture?.$case) {
    case 'genotype':
      try {
        genotype = genotypeFromProto(architecture.value, 'genotype');
      } catch (err) {
        throw new InvalidRequestError(`invalid ${(err as Error).message}`);
      }
      break;
    case 'searchId':
      searchId = architecture.value;
      genotype = await searchGenotype(limits.searchStateDir, searchId);
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
    spec: resolveSpec(request, genotype, task, detection),
    datasetUri,
    recipe,
    modelName,
    task,
    ...(detection === undefined ? {} : { detection }),
  };
}
