// The protobuf face of the tasks: every task round-trips, and the segmentation and keypoint
// configs map field by field (keypoint pairs flattened in the message), with errors naming the field.
import {
  KeypointConfig as KeypointConfigProto,
  SegmentationConfig as SegmentationConfigProto,
  Task,
} from '@rnas/proto';
import { BISENET_CONFIG, SegmentationConfigError } from './segmentation/config';
import { KeypointConfigError, SIMPLEBASELINE_CONFIG, type KeypointConfig } from './keypoints/config';
import {
  keypointConfigFromProto,
  keypointConfigToProto,
  segmentationConfigFromProto,
  segmentationConfigToProto,
  taskFromProto,
  taskToProto,
  TaskProtoError,
} from './task-proto';
import { TASK_NAMES } from './task';

describe('taskFromProto / taskToProto', () => {
  it('round-trips every task, UNSPECIFIED meaning classification', () => {
    for (const task of TASK_NAMES) expect(taskFromProto(taskToProto(task))).toBe(task);
    expect(taskToProto('segmentation')).toBe(Task.TASK_SEGMENTATION);
    expect(taskToProto('keypoints')).toBe(Task.TASK_KEYPOINTS);
    expect(taskFromProto(Task.TASK_UNSPECIFIED)).toBe('classification');
  });

  it('refuses an unknown value, naming the field and the value', () => {
    expect(() => taskFromProto(99 as Task, 'task')).toThrow(TaskProtoError);
    expect(() => taskFromProto(99 as Task, 'task')).toThrow(/^task: expected .*TASK_KEYPOINTS, got 99$/);
  });
});

describe('segmentationConfigFromProto / ToProto', () => {
  it('takes BiSeNet defaults for an absent message or absent fields', () => {
    expect(segmentationConfigFromProto(undefined)).toEqual(BISENET_CONFIG);
    expect(segmentationConfigFromProto(SegmentationConfigProto.fromPartial({}))).toEqual(BISENET_CONFIG);
  });

  it('round-trips a full config', () => {
    const config = {
      inputHeight: 64,
      inputWidth: 96,
      scales: [0.5, 1],
      backboneModel: 'cifar-net:3',
      headLrScale: 5,
      auxiliaryWeight: 0.5,
    };
    const proto = segmentationConfigToProto(config);
    expect(SegmentationConfigProto.decode(SegmentationConfigProto.encode(proto).finish())).toEqual(proto);
    expect(segmentationConfigFromProto(proto)).toEqual(config);
    expect(segmentationConfigFromProto(segmentationConfigToProto(BISENET_CONFIG))).toEqual(BISENET_CONFIG);
  });

  it('refuses out-of-range fields naming the field and the value', () => {
    const bad =
      (partial: Partial<SegmentationConfigProto>): (() => unknown) =>
      () =>
        segmentationConfigFromProto(SegmentationConfigProto.fromPartial(partial), 'segmentation');
    expect(bad({ inputHeight: 100 })).toThrow(SegmentationConfigError);
    expect(bad({ inputHeight: 100 })).toThrow(
      /^segmentation\.inputHeight: expected a multiple of 32.*got 100$/,
    );
    expect(bad({ inputWidth: 4096 })).toThrow(/segmentation\.inputWidth: .*got 4096/);
    expect(bad({ scales: [0.1] })).toThrow(/segmentation\.scales/);
    expect(bad({ scales: new Array(17).fill(1) })).toThrow(/segmentation\.scales/);
    expect(bad({ headLrScale: NaN })).toThrow(/segmentation\.headLrScale/);
    expect(bad({ auxiliaryWeight: -1 })).toThrow(/segmentation\.auxiliaryWeight: .*got -1/);
    expect(bad({ backboneModel: 'Bad Name' })).toThrow(/segmentation\.backboneModel: .*"Bad Name"/);
  });
});

describe('keypointConfigFromProto / ToProto', () => {
  const dataset: KeypointConfig = {
    ...SIMPLEBASELINE_CONFIG,
    inputHeight: 96,
    inputWidth: 64,
    flipTest: false,
    keypointNames: ['head', 'left_hand', 'right_hand', 'hip'],
    skeleton: [
      [0, 1],
      [0, 2],
      [0, 3],
    ],
    flipPairs: [[1, 2]],
    oksSigmas: [0.026, 0.062, 0.062, 0.107],
  };

  it('takes SimpleBaseline defaults for an absent message or absent fields', () => {
    expect(keypointConfigFromProto(undefined)).toEqual(SIMPLEBASELINE_CONFIG);
    expect(keypointConfigFromProto(KeypointConfigProto.fromPartial({}))).toEqual(SIMPLEBASELINE_CONFIG);
  });

  it('flattens the pairs in the message and round-trips a full config', () => {
    const proto = keypointConfigToProto(dataset);
    expect(proto.skeleton).toEqual([0, 1, 0, 2, 0, 3]);
    expect(proto.flipPairs).toEqual([1, 2]);
    expect(proto.flipTest).toBe(false);
    expect(KeypointConfigProto.decode(KeypointConfigProto.encode(proto).finish())).toEqual(proto);
    expect(keypointConfigFromProto(proto)).toEqual(dataset);
  });

  it('refuses an odd count of pair values, naming the field', () => {
    const proto = keypointConfigToProto(dataset);
    expect(() => keypointConfigFromProto({ ...proto, skeleton: [0, 1, 2] })).toThrow(TaskProtoError);
    expect(() => keypointConfigFromProto({ ...proto, skeleton: [0, 1, 2] })).toThrow(
      /^keypoints\.skeleton: expected pairs .*got 3 values$/,
    );
    expect(() => keypointConfigFromProto({ ...proto, flipPairs: [1] }, 'kp')).toThrow(/^kp\.flipPairs: /);
  });

  it('refuses bad fields naming the field and the value', () => {
    const proto = keypointConfigToProto(dataset);
    const bad =
      (partial: Partial<KeypointConfigProto>): (() => unknown) =>
      () =>
        keypointConfigFromProto({ ...proto, ...partial });
    expect(bad({ inputWidth: 50 })).toThrow(KeypointConfigError);
    expect(bad({ inputWidth: 50 })).toThrow(/keypoints\.inputWidth: .*got 50/);
    expect(bad({ heatmapSigma: 0 })).toThrow(/keypoints\.heatmapSigma/);
    expect(bad({ skeleton: [0, 4] })).toThrow(
      /keypoints\.skeleton: expected pairs of distinct indices below 4/,
    );
    expect(bad({ flipPairs: [1, 1] })).toThrow(/keypoints\.flipPairs/);
    expect(bad({ oksSigmas: [0.1] })).toThrow(/keypoints\.oksSigmas: expected 4 sigmas/);
    expect(bad({ keypointNames: [''] })).toThrow(/keypoints\.keypointNames/);
  });
});
