// A candidate evaluation as the protobuf messages of TrainingService.EvaluatePair, so that another
// process (a training replica) can evaluate a search's candidates: tensors and index lists travel
// as raw little-endian bytes, and what comes from the wire is checked before any of it is used.
import { crc32 } from 'node:zlib';
import { float32FromLittleEndian, littleEndianBytes, type HostTensor } from '@rnas/engine';
import type {
  CandidateJob as CandidateJobProto,
  CandidateResult as CandidateResultProto,
  EvaluationSetup,
  HostTensor as HostTensorProto,
} from '@rnas/proto';
import { OP_NAMES, type OpName } from '../genotype';
import { genotypeFromProto, genotypeToProto } from '../genotype-proto';
import type { CandidateJob, CandidateResult, SearchData, TrainingRecipe } from './candidate';
import type { SearchConfig } from './search-config';
import type { SearchNetworkConfig } from './search-network';
import type { HostParams } from './weight-set';

/** A field of a message that is not what it must be; `field` is its protobuf path. */
export class EvaluationMessageError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'EvaluationMessageError';
  }
}

/** What a remote evaluator needs to rebuild a search's EvaluatorSetup on its side. */
export interface RemoteSetup {
  datasetUri: string;
  config: Pick<SearchConfig, 'trainPortion' | 'seed'>;
  network: SearchNetworkConfig;
  recipe: TrainingRecipe;
  data: SearchData;
}

/** CRC-32 of the search splits' images and labels: both sides must train on the same data. */
export function searchDataCrc32(data: SearchData): number {
  let crc = 0;
  for (const split of [data.train, data.val]) {
    crc = crc32(split.images, crc);
    crc = crc32(new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength), crc);
  }
  return crc >>> 0;
}

export function evaluationSetupToProto(setup: RemoteSetup): EvaluationSetup {
  const { network, recipe, data } = setup;
  return {
    datasetUri: setup.datasetUri,
    trainPortion: setup.config.trainPortion,
    seed: setup.config.seed,
    searchTrainImages: data.train.size,
    searchValImages: data.val.size,
    classes: network.classes,
    dataCrc32: searchDataCrc32(data),
    layers: network.layers,
    channels: network.channels,
    steps: network.steps,
    primitives: [...network.primitives],
    batchSize: recipe.batchSize,
    momentum: recipe.momentum,
    weightDecay: recipe.weightDecay,
    gradClip: recipe.gradClip,
    cutout: recipe.cutout,
  };
}

/** The evaluator's side: the network and recipe of a setup on the data it cut (checked to match). */
export function evaluationSetupFromProto(
  message: EvaluationSetup,
  data: SearchData,
): { network: SearchNetworkConfig; recipe: TrainingRecipe } {
  const expect = (field: string, given: number, found: number, what: string): void => {
    if (given !== found) {
      throw new EvaluationMessageError(
        `setup.${field}`,
        given,
        `the search has ${given} ${what}, this evaluator's copy of ${message.datasetUri} gives ${found}: ` +
          'the search and its evaluators must read the same dataset',
      );
    }
  };
  expect('search_train_images', message.searchTrainImages, data.train.size, 'search-training images');
  expect('search_val_images', message.searchValImages, data.val.size, 'search-validation images');
  expect('classes', message.classes, data.train.numClasses, 'classes');
  expect('data_crc32', message.dataCrc32, searchDataCrc32(data), 'as the CRC-32 of its search splits');
  const primitives = message.primitives.map((op, i) => {
    if (!(OP_NAMES as readonly string[]).includes(op)) {
      throw new EvaluationMessageError(
        `setup.primitives[${i}]`,
        op,
        `expected one of ${OP_NAMES.join(', ')}`,
      );
    }
    return op as OpName;
  });
  const int = (field: string, value: number, min: number, max: number): number => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new EvaluationMessageError(`setup.${field}`, value, `expected an integer in [${min}, ${max}]`);
    }
    return value;
  };
  const real = (field: string, value: number, min: number, max: number): number => {
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new EvaluationMessageError(`setup.${field}`, value, `expected a number in [${min}, ${max}]`);
    }
    return value;
  };
  return {
    network: {
      layers: int('layers', message.layers, 1, 64),
      channels: int('channels', message.channels, 1, 1024),
      classes: data.train.numClasses,
      inChannels: data.train.imageShape[2],
      steps: int('steps', message.steps, 1, 8),
      primitives,
    },
    recipe: {
      batchSize: int('batch_size', message.batchSize, 1, 65_536),
      momentum: real('momentum', message.momentum, 0, 1),
      weightDecay: real('weight_decay', message.weightDecay, 0, 1),
      gradClip: real('grad_clip', message.gradClip, 0, 1e9),
      cutout: int('cutout', message.cutout, 0, 1024),
    },
  };
}

function float32Of(bytes: Uint8Array, field: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new EvaluationMessageError(
      field,
      `${bytes.byteLength} bytes`,
      'expected little-endian float32s (a multiple of 4 bytes)',
    );
  }
  return float32FromLittleEndian(bytes);
}

function int32Of(bytes: Uint8Array, field: string, size: number): Int32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new EvaluationMessageError(
      field,
      `${bytes.byteLength} bytes`,
      'expected little-endian int32s (a multiple of 4 bytes)',
    );
  }
  const out = new Int32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) {
    const v = view.getInt32(i * 4, true);
    if (v < 0 || v >= size) {
      throw new EvaluationMessageError(`${field}[${i}]`, v, `expected an image index in [0, ${size})`);
    }
    out[i] = v;
  }
  return out;
}

export function paramsToProto(params: HostParams): HostTensorProto[] {
  return Object.entries(params).map(([name, tensor]) => {
    if (!(tensor.data instanceof Float32Array)) {
      throw new Error(`tensor ${name}: only float32 tensors travel (got ${tensor.dtype})`);
    }
    return { name, shape: [...tensor.shape], data: littleEndianBytes(tensor.data) };
  });
}

export function paramsFromProto(tensors: readonly HostTensorProto[], field: string): HostParams {
  const params: HostParams = Object.create(null) as HostParams;
  tensors.forEach((tensor, i) => {
    const at = `${field}[${i}]`;
    if (tensor.name === '' || tensor.name in params) {
      throw new EvaluationMessageError(
        `${at}.name`,
        tensor.name,
        tensor.name === '' ? 'required' : 'given twice',
      );
    }
    const count = tensor.shape.reduce((n, d) => n * d, 1);
    if (!tensor.shape.every((d) => Number.isInteger(d) && d >= 0) || tensor.data.byteLength !== count * 4) {
      throw new EvaluationMessageError(
        `${at}.data`,
        `${tensor.data.byteLength} bytes`,
        `shape [${tensor.shape.join(', ')}] needs ${count * 4} bytes of float32`,
      );
    }
    const host: HostTensor = {
      dtype: 'F32',
      shape: [...tensor.shape],
      data: float32Of(tensor.data, `${at}.data`),
    };
    params[tensor.name] = host;
  });
  return params;
}

export function candidateJobToProto(job: CandidateJob): CandidateJobProto {
  return {
    genotype: genotypeToProto(job.genotype),
    params: paramsToProto(job.params),
    lr: job.lr,
    dropPath: job.dropPath,
    trainIndices: littleEndianBytes(job.trainIndices),
    valIndices: littleEndianBytes(job.valIndices),
    augmentSeed: job.augmentSeed,
    valAugmentSeed: job.valAugmentSeed ?? undefined,
    dropPathSeed: job.dropPathSeed,
    validateOnly: job.validateOnly ?? false,
  };
}

/** A job from the wire, checked against the evaluator's setup and data; errors name the field. */
export function candidateJobFromProto(
  message: CandidateJobProto,
  field: string,
  setup: { network: SearchNetworkConfig; recipe: TrainingRecipe; data: SearchData },
): CandidateJob {
  if (message.genotype === undefined)
    throw new EvaluationMessageError(`${field}.genotype`, undefined, 'required');
  let genotype;
  try {
    genotype = genotypeFromProto(message.genotype, `${field}.genotype`);
  } catch (error) {
    throw new EvaluationMessageError(`${field}.genotype`, message.genotype, (error as Error).message);
  }
  const finite = (name: string, value: number, min: number, max: number): number => {
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new EvaluationMessageError(`${field}.${name}`, value, `expected a number in [${min}, ${max}]`);
    }
    return value;
  };
  const seed = (name: string, value: number): number => {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new EvaluationMessageError(`${field}.${name}`, value, 'expected a seed (a non-negative integer)');
    }
    return value;
  };
  return {
    network: setup.network,
    recipe: setup.recipe,
    genotype,
    params: paramsFromProto(message.params, `${field}.params`),
    lr: finite('lr', message.lr, 0, 1e6),
    dropPath: finite('drop_path', message.dropPath, 0, 1),
    trainIndices: int32Of(message.trainIndices, `${field}.train_indices`, setup.data.train.size),
    valIndices: int32Of(message.valIndices, `${field}.val_indices`, setup.data.val.size),
    augmentSeed: seed('augment_seed', message.augmentSeed),
    valAugmentSeed:
      message.valAugmentSeed === undefined ? null : seed('val_augment_seed', message.valAugmentSeed),
    dropPathSeed: seed('drop_path_seed', message.dropPathSeed),
    validateOnly: message.validateOnly,
  };
}

export function candidateResultToProto(result: CandidateResult): CandidateResultProto {
  return {
    trainLoss: result.trainLoss,
    trainAccuracy: result.trainAccuracy,
    valLoss: result.valLoss,
    valAccuracy: result.valAccuracy,
    trainImages: result.trainImages,
    valImages: result.valImages,
    seconds: result.seconds,
    params: paramsToProto(result.params),
  };
}

export function candidateResultFromProto(message: CandidateResultProto, field: string): CandidateResult {
  return {
    trainLoss: message.trainLoss,
    trainAccuracy: message.trainAccuracy,
    valLoss: message.valLoss,
    valAccuracy: message.valAccuracy,
    trainImages: message.trainImages,
    valImages: message.valImages,
    seconds: message.seconds,
    params: paramsFromProto(message.params, `${field}.params`),
  };
}
