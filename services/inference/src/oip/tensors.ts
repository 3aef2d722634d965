// The tensors of the Open Inference Protocol: a ModelInfer request's inputs checked against the
// model (names, datatypes, shapes, byte sizes; typed `contents` or `raw_input_contents`) and the
// outputs encoded the way the request came (raw when its inputs were raw). Every error is
// INVALID_ARGUMENT naming the tensor by its protobuf path and saying what was expected.
import { float32FromLittleEndian, littleEndianBytes } from '@rnas/engine';
import { InvalidArgumentError } from '@rnas/grpc';
import type { InferTensorContents, ModelInferRequest, ModelInferResponse } from '@rnas/proto';
import type { CheckedInput } from '../handlers';
import type { InputShape } from '../preprocess';

/** The protocol's datatypes this server reads or writes. */
export type Datatype = 'FP32' | 'INT32' | 'BYTES';

/** A tensor as ModelMetadata declares it: -1 for the batch dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

/** An output tensor's values: float32, int32, or one buffer per BYTES element. */
export interface OutputTensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly values: Float32Array | Int32Array | readonly Buffer[];
}

/** The preprocessed NHWC floats of every model (Classify's `tensor`). */
export const TENSOR_INPUT = 'input';
/** The encoded images of every model (Classify's `images`). */
export const IMAGES_INPUT = 'images';

/** The two inputs of a model of this input shape: one or the other per request. */
export function modelInputs(shape: InputShape): TensorSpec[] {
  return [
    { name: TENSOR_INPUT, datatype: 'FP32', shape: [-1, shape.height, shape.width, shape.channels] },
    { name: IMAGES_INPUT, datatype: 'BYTES', shape: [-1, 1] },
  ];
}

const CONTENT_FIELDS = {
  boolContents: 'bool_contents',
  intContents: 'int_contents',
  int64Contents: 'int64_contents',
  uintContents: 'uint_contents',
  uint64Contents: 'uint64_contents',
  fp32Contents: 'fp32_contents',
  fp64Contents: 'fp64_contents',
  bytesContents: 'bytes_contents',
} as const satisfies Record<keyof InferTensorContents, string>;

/** The `contents` fields that hold values. */
function filledContents(contents: InferTensorContents | undefined): (keyof InferTensorContents)[] {
  if (!contents) return [];
  return (Object.keys(CONTENT_FIELDS) as (keyof InferTensorContents)[]).filter(
    (key) => contents[key].length > 0,
  );
}

/**
 * The request's input as the batcher takes it, and whether it came raw. Exactly one input,
 * `input` (FP32 [N, H, W, C]) or `images` (BYTES [N] or [N, 1]), N from 1 to `maxBatchSize`;
 * its values all typed or all raw.
 */
export function parseInferInputs(
  request: ModelInferRequest,
  model: string,
  shape: InputShape,
  maxBatchSize: number,
): { input: CheckedInput; raw: boolean } {
  const { inputs, rawInputContents } = request;
  const expected = modelInputs(shape)
    .map((spec) => `${spec.name} (${spec.datatype} [${spec.shape.join(', ')}])`)
    .join(' or ');
  if (inputs.length === 0) {
    throw new InvalidArgumentError('inputs', '0 inputs', `model ${model} takes one input: ${expected}`);
  }
  inputs.forEach((tensor, i) => {
    if (tensor.name !== TENSOR_INPUT && tensor.name !== IMAGES_INPUT) {
      throw new InvalidArgumentError(
        `inputs[${i}].name`,
        tensor.name,
        `model ${model} has inputs ${expected}`,
      );
    }
  });
  if (inputs.length > 1) {
    throw new InvalidArgumentError(
      'inputs',
      inputs.map((tensor) => tensor.name),
      `give one input, ${expected}, not ${inputs.length}`,
    );
  }
  const tensor = inputs[0];
  const raw = rawInputContents.length > 0;
  const filled = filledContents(tensor.contents);
  if (raw) {
    if (rawInputContents.length !== inputs.length) {
      throw new InvalidArgumentError(
        'raw_input_contents',
        `${rawInputContents.length} buffers`,
        `expected one per input (${inputs.length})`,
      );
    }
    if (filled.length > 0) {
      throw new InvalidArgumentError(
        `inputs[0].contents.${CONTENT_FIELDS[filled[0]]}`,
        `${tensor.contents?.[filled[0]].length} values`,
        'raw_input_contents is given too: send each input either raw or typed, not both',
      );
    }
  }
  const n = batchOf(tensor.shape, tensor.name, shape, maxBatchSize);
  if (tensor.name === TENSOR_INPUT) {
    requireDatatype(tensor.datatype, 'FP32');
    const count = n * shape.height * shape.width * shape.channels;
    const values = raw
      ? rawFloats(rawInputContents[0], count, tensor.shape)
      : typedFloats(tensor.contents, filled, count, tensor.shape);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad !== -1) {
      throw new InvalidArgumentError(
        raw ? `raw_input_contents[0] element ${bad}` : `inputs[0].contents.fp32_contents[${bad}]`,
        values[bad],
        'must be finite',
      );
    }
    return { input: { kind: 'tensor', values, n }, raw };
  }
  requireDatatype(tensor.datatype, 'BYTES');
  if (raw) {
    const images = splitBytesElements(rawInputContents[0], 'raw_input_contents[0]');
    if (images.length !== n) {
      throw new InvalidArgumentError(
        'raw_input_contents[0]',
        `${images.length} elements`,
        `shape [${tensor.shape.join(', ')}] needs ${n}`,
      );
    }
    return {
      input: { kind: 'images', images, field: (i) => `raw_input_contents[0] element ${i}` },
      raw,
    };
  }
  const other = filled.find((key) => key !== 'bytesContents');
  if (other !== undefined) {
    throw new InvalidArgumentError(
      `inputs[0].contents.${CONTENT_FIELDS[other]}`,
      `${tensor.contents?.[other].length} values`,
      "a BYTES tensor's elements go in bytes_contents",
    );
  }
  const images = tensor.contents?.bytesContents ?? [];
  if (images.length !== n) {
    throw new InvalidArgumentError(
      'inputs[0].contents.bytes_contents',
      `${images.length} elements`,
      `shape [${tensor.shape.join(', ')}] needs ${n}`,
    );
  }
  return { input: { kind: 'images', images, field: (i) => `inputs[0].contents.bytes_contents[${i}]` }, raw };

  function requireDatatype(datatype: string, wanted: Datatype): void {
    if (datatype !== wanted) {
      throw new InvalidArgumentError('inputs[0].datatype', datatype, `input ${tensor.name} is ${wanted}`);
    }
  }
}

/** N of a request tensor's shape, checked against the input's declared shape and the batch size. */
function batchOf(dims: readonly number[], name: string, shape: InputShape, maxBatchSize: number): number {
  const image = name === TENSOR_INPUT;
  const expected = image ? `[N, ${shape.height}, ${shape.width}, ${shape.channels}] (NHWC)` : '[N] or [N, 1]';
  const fits = image
    ? dims.length === 4 && dims[1] === shape.height && dims[2] === shape.width && dims[3] === shape.channels
    : dims.length === 1 || (dims.length === 2 && dims[1] === 1);
  const n = dims[0];
  if (!fits || !Number.isInteger(n) || n < 1 || n > maxBatchSize) {
    throw new InvalidArgumentError(
      'inputs[0].shape',
      dims,
      `input ${name} takes ${expected} with N from 1 to ${maxBatchSize} (--max-batch-size)`,
    );
  }
  return n;
}

function rawFloats(bytes: Buffer, count: number, dims: readonly number[]): Float32Array {
  if (bytes.length !== count * 4) {
    throw new InvalidArgumentError(
      'raw_input_contents[0]',
      `${bytes.length} bytes`,
      `FP32 shape [${dims.join(', ')}] needs ${count * 4} bytes (${count} little-endian floats)`,
    );
  }
  // A copy, aligned whatever the message's offset; the batcher may keep it.
  return float32FromLittleEndian(bytes);
}

function typedFloats(
  contents: InferTensorContents | undefined,
  filled: (keyof InferTensorContents)[],
  count: number,
  dims: readonly number[],
): Float32Array {
  const other = filled.find((key) => key !== 'fp32Contents');
  if (other !== undefined) {
    throw new InvalidArgumentError(
      `inputs[0].contents.${CONTENT_FIELDS[other]}`,
      `${contents?.[other].length} values`,
      "an FP32 tensor's values go in fp32_contents (or all inputs in raw_input_contents)",
    );
  }
  const given = contents?.fp32Contents ?? [];
  if (given.length !== count) {
    throw new InvalidArgumentError(
      'inputs[0].contents.fp32_contents',
      `${given.length} values`,
      `shape [${dims.join(', ')}] needs ${count}`,
    );
  }
  return Float32Array.from(given);
}

/** BYTES elements of a raw buffer: each a 4-byte little-endian length, then that many bytes. */
export function splitBytesElements(bytes: Buffer, field: string): Buffer[] {
  const elements: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 4) {
      throw new InvalidArgumentError(
        field,
        `${bytes.length} bytes`,
        `element ${elements.length} starts at byte ${offset} with ${bytes.length - offset} bytes left, ` +
          'too few for its 4-byte little-endian length',
      );
    }
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (length > bytes.length - offset) {
      throw new InvalidArgumentError(
        field,
        `${bytes.length} bytes`,
        `element ${elements.length} declares ${length} bytes but ${bytes.length - offset} remain`,
      );
    }
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return elements;
}

/** BYTES elements as one raw buffer, each preceded by its 4-byte little-endian length. */
export function joinBytesElements(elements: readonly Buffer[]): Buffer {
  const out = Buffer.alloc(elements.reduce((sum, element) => sum + 4 + element.length, 0));
  let offset = 0;
  for (const element of elements) {
    out.writeUInt32LE(element.length, offset);
    element.copy(out, offset + 4);
    offset += 4 + element.length;
  }
  return out;
}

/** The response's tensors: typed in `contents`, or raw in raw_output_contents (in the same order). */
export function encodeOutputs(
  tensors: readonly OutputTensor[],
  raw: boolean,
): Pick<ModelInferResponse, 'outputs' | 'rawOutputContents'> {
  const outputs: ModelInferResponse['outputs'] = [];
  const rawOutputContents: Buffer[] = [];
  for (const tensor of tensors) {
    const { name, datatype, shape, values } = tensor;
    const head = { name, datatype, shape: [...shape], parameters: {} };
    if (raw) {
      outputs.push(head);
      rawOutputContents.push(
        Array.isArray(values)
          ? joinBytesElements(values as readonly Buffer[])
          : littleEndianBytes(values as Float32Array | Int32Array),
      );
      continue;
    }
    const contents: InferTensorContents = {
      boolContents: [],
      intContents: datatype === 'INT32' ? Array.from(values as Int32Array) : [],
      int64Contents: [],
      uintContents: [],
      uint64Contents: [],
      fp32Contents: datatype === 'FP32' ? Array.from(values as Float32Array) : [],
      fp64Contents: [],
      bytesContents: datatype === 'BYTES' ? [...(values as readonly Buffer[])] : [],
    };
    outputs.push({ ...head, contents });
  }
  return { outputs, rawOutputContents };
}
