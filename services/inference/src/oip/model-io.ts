// What each task's model answers as named tensors of the Open Inference Protocol (ModelMetadata
// declares them; ModelInfer fills them from the batch's serving records), and Triton's
// classification extension.
import { InvalidArgumentError } from '@rnas/grpc';
import type { InferParameter, ModelInferRequest } from '@rnas/proto';
import { classificationRecord, KEYPOINT_VALUES, type TaskName } from '@rnas/tasks';
import { topIndices } from '../classify-input';
import { DEFAULT_MAX_DETECTIONS, DEFAULT_SCORE_THRESHOLD, imageDetections } from '../detect-input';
import type { ImageSize } from '../handlers';
import type { ServedModel } from '../served-model';
import type { OutputTensor, TensorSpec } from './tensors';

/** Detections per image in the detection outputs (padded; `num_detections` says how many are real). */
export const OIP_DETECTIONS = DEFAULT_MAX_DETECTIONS;

/** The model's outputs, by task: names, datatypes and shapes (-1 is the batch). */
export function modelOutputs(served: ServedModel): TensorSpec[] {
  const task: TaskName = served.task.task;
  const { height, width } = served.inputShape;
  const k = served.classes;
  switch (task) {
    case 'classification':
      return [
        { name: 'logits', datatype: 'FP32', shape: [-1, k] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, k] },
      ];
    case 'detection':
      return [
        { name: 'boxes', datatype: 'FP32', shape: [-1, OIP_DETECTIONS, 4] },
        { name: 'scores', datatype: 'FP32', shape: [-1, OIP_DETECTIONS] },
        { name: 'classes', datatype: 'INT32', shape: [-1, OIP_DETECTIONS] },
        { name: 'num_detections', datatype: 'INT32', shape: [-1] },
      ];
    case 'segmentation':
      return [{ name: 'label_map', datatype: 'INT32', shape: [-1, height, width] }];
    case 'keypoints':
      return [{ name: 'keypoints', datatype: 'FP32', shape: [-1, k, KEYPOINT_VALUES] }];
  }
}

/** Whether images are stretched to the input size (the dense tasks, as Detect) or cropped (Classify). */
export function imageFit(served: ServedModel): 'cover' | 'fill' {
  return served.task.task === 'classification' ? 'cover' : 'fill';
}

/** The request parameters a task reads, checked: detection's `score_threshold` (double in [0, 1]). */
export function scoreThreshold(request: ModelInferRequest): number {
  const parameter = request.parameters.score_threshold as InferParameter | undefined;
  if (parameter === undefined) return DEFAULT_SCORE_THRESHOLD;
  const choice = parameter.parameterChoice;
  const value = choice?.$case === 'doubleParam' || choice?.$case === 'int64Param' ? choice.value : Number.NaN;
  if (!(Number.isFinite(value) && value >= 0 && value <= 1)) {
    throw new InvalidArgumentError(
      'parameters.score_threshold',
      choice?.value,
      'expected a double_param in [0, 1]',
    );
  }
  return value;
}

/**
 * Every output of the model for a batch of `n` images' serving records. `sizes` are the images'
 * own sizes (the input size for a tensor): detection boxes and keypoints are in their pixels.
 */
export function outputTensors(
  served: ServedModel,
  records: Float32Array,
  n: number,
  sizes: readonly ImageSize[],
  threshold: number,
): OutputTensor[] {
  const { height, width } = served.inputShape;
  const k = served.classes;
  switch (served.task.task) {
    case 'classification': {
      const logits = new Float32Array(n * k);
      const probabilities = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        const record = classificationRecord(records, i, k);
        logits.set(record.logits, i * k);
        probabilities.set(record.probabilities, i * k);
      }
      return [
        { name: 'logits', datatype: 'FP32', shape: [n, k], values: logits },
        { name: 'probabilities', datatype: 'FP32', shape: [n, k], values: probabilities },
      ];
    }
    case 'detection': {
      const d = OIP_DETECTIONS;
      const boxes = new Float32Array(n * d * 4);
      const scores = new Float32Array(n * d);
      const classes = new Int32Array(n * d);
      const count = new Int32Array(n);
      const images = imageDetections(records, sizes, served.labels, {
        scoreThreshold: threshold,
        maxDetections: d,
        classes: null,
      });
      images.forEach((image, i) => {
        count[i] = image.detections.length;
        image.detections.forEach((detection, j) => {
          const box = detection.box ?? { xMin: 0, yMin: 0, xMax: 0, yMax: 0 };
          boxes.set([box.xMin, box.yMin, box.xMax, box.yMax], (i * d + j) * 4);
          scores[i * d + j] = detection.score;
          classes[i * d + j] = detection.classIndex;
        });
      });
      return [
        { name: 'boxes', datatype: 'FP32', shape: [n, d, 4], values: boxes },
        { name: 'scores', datatype: 'FP32', shape: [n, d], values: scores },
        { name: 'classes', datatype: 'INT32', shape: [n, d], values: classes },
        { name: 'num_detections', datatype: 'INT32', shape: [n], values: count },
      ];
    }
    case 'segmentation': {
      const labels = new Int32Array(n * height * width);
      for (let p = 0; p < labels.length; p++) {
        const v = records[p];
        // The network's argmax: anything else is a broken model, not a bad request.
        if (!(Number.isInteger(v) && v >= 0 && v < k)) {
          throw new Error(`segmentation record: pixel ${p} has class ${v}, the model has ${k}`);
        }
        labels[p] = v;
      }
      return [{ name: 'label_map', datatype: 'INT32', shape: [n, height, width], values: labels }];
    }
    case 'keypoints': {
      // Records are in the network's input pixels; an image was stretched to it as a whole.
      const keypoints = Float32Array.from(records.subarray(0, n * k * KEYPOINT_VALUES));
      sizes.forEach((size, i) => {
        for (let j = 0; j < k; j++) {
          const at = (i * k + j) * KEYPOINT_VALUES;
          keypoints[at] *= size.width / width;
          keypoints[at + 1] *= size.height / height;
        }
      });
      return [{ name: 'keypoints', datatype: 'FP32', shape: [n, k, KEYPOINT_VALUES], values: keypoints }];
    }
  }
}

/** An output a request asked for; `classify` is the k of Triton's classification extension. */
export interface WantedOutput {
  readonly name: string;
  readonly classify: number | undefined;
}

/**
 * The outputs the request asks for (every output when it names none), checked before the forward
 * pass: known names, each once, and the classification extension's parameter (int64 k >= 1,
 * capped at the class count, on a classification model's logits or probabilities only).
 */
export function checkRequestedOutputs(served: ServedModel, request: ModelInferRequest): WantedOutput[] {
  const outputs = modelOutputs(served);
  if (request.outputs.length === 0) return outputs.map((spec) => ({ name: spec.name, classify: undefined }));
  const seen = new Set<string>();
  return request.outputs.map((wanted, i) => {
    const spec = outputs.find((output) => output.name === wanted.name);
    if (!spec) {
      throw new InvalidArgumentError(
        `outputs[${i}].name`,
        wanted.name,
        `model ${served.name} has outputs ${outputs.map((output) => output.name).join(', ')}`,
      );
    }
    if (seen.has(wanted.name)) {
      throw new InvalidArgumentError(`outputs[${i}].name`, wanted.name, 'asked for twice');
    }
    seen.add(wanted.name);
    const parameter = wanted.parameters.classification as InferParameter | undefined;
    if (parameter === undefined) return { name: spec.name, classify: undefined };
    const field = `outputs[${i}].parameters.classification`;
    const choice = parameter.parameterChoice;
    const k = choice?.$case === 'int64Param' || choice?.$case === 'uint64Param' ? choice.value : Number.NaN;
    if (!(Number.isSafeInteger(k) && k >= 1)) {
      throw new InvalidArgumentError(field, choice?.value, 'expected an int64_param of at least 1');
    }
    if (served.task.task !== 'classification') {
      throw new InvalidArgumentError(
        field,
        k,
        `only a classification model's logits and probabilities can be classified; model ${served.name} is a ${served.task.task} model`,
      );
    }
    return { name: spec.name, classify: Math.min(k, served.classes) };
  });
}

/** The wanted outputs in the request's order, classified where asked (BYTES [N, k] of "score:index:label"). */
export function selectOutputs(
  all: readonly OutputTensor[],
  wanted: readonly WantedOutput[],
  labels: readonly string[],
): OutputTensor[] {
  return wanted.map(({ name, classify: k }) => {
    const tensor = all.find((output) => output.name === name);
    if (!tensor) throw new Error(`output ${name} was not computed`);
    return k === undefined ? tensor : classify(tensor, k, labels);
  });
}

function classify(tensor: OutputTensor, k: number, labels: readonly string[]): OutputTensor {
  const [n, classes] = tensor.shape;
  const values = tensor.values as Float32Array;
  const strings: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const row = values.subarray(i * classes, (i + 1) * classes);
    for (const index of topIndices(row, k)) {
      // Triton's format: the value as C's %f, the class index, the label when there is one.
      const label = labels[index] ? `:${labels[index]}` : '';
      strings.push(Buffer.from(`${row[index].toFixed(6)}:${index}${label}`));
    }
  }
  return { name: tensor.name, datatype: 'BYTES', shape: [n, k], values: strings };
}
