import { Task } from '@rnas/proto';
import {
  keypointConfigFromProto,
  keypointConfigToProto,
  segmentationConfigFromProto,
  segmentationConfigToProto,
  taskFromProto,
  taskProtoName,
  taskToProto,
  TaskProtoError,
} from './task-proto';
import { BISENET_CONFIG } from './segmentation/config';
import { SIMPLEBASELINE_CONFIG } from './keypoints/config';
import { TASK_NAMES } from './task';

describe('task protos', () => {
  it('maps every task both ways, UNSPECIFIED as classification', () => {
    for (const task of TASK_NAMES) expect(taskFromProto(taskToProto(task))).toBe(task);
    expect(taskFromProto(Task.TASK_UNSPECIFIED)).toBe('classification');
    expect(taskProtoName('keypoints')).toBe('TASK_KEYPOINTS');
    expect(() => taskFromProto(99 as Task, 'task')).toThrow(TaskProtoError);
    expect(() => taskFromProto(99 as Task, 'task')).toThrow(/task: expected TASK_CLASSIFICATION.*got 99/);
  });

  it('resolves an absent or empty segmentation config to BiSeNet and round-trips it', () => {
    expect(segmentationConfigFromProto(undefined)).toEqual(BISENET_CONFIG);
    expect(segmentationConfigFromProto({ scales: [], backboneModel: '' })).toEqual(BISENET_CONFIG);
    const config = segmentationConfigFromProto({
      inputHeight: 64,
      inputWidth: 96,
      scales: [1, 1.5],
      backboneModel: 'cls:2',
      headLrScale: 5,
      auxiliaryWeight: 0.5,
    });
    expect(config).toEqual({
      inputHeight: 64,
      inputWidth: 96,
      scales: [1, 1.5],
      backboneModel: 'cls:2',
      headLrScale: 5,
      auxiliaryWeight: 0.5,
    });
    expect(segmentationConfigFromProto(segmentationConfigToProto(config))).toEqual(config);
  });

  it('names the field and the value of a bad segmentation config', () => {
    expect(() => segmentationConfigFromProto({ inputHeight: 100, scales: [], backboneModel: '' })).toThrow(
      'segmentation.inputHeight: expected a multiple of 32 in [64, 2048], got 100',
    );
    expect(() => segmentationConfigFromProto({ scales: [0, 1], backboneModel: '' })).toThrow(
      /segmentation\.scales\[0\]: expected a number in \[0.25, 4\], got 0$/,
    );
    expect(() => segmentationConfigFromProto({ scales: [], backboneModel: '../x' })).toThrow(
      /segmentation\.backboneModel: expected "" or a model name/,
    );
  });

  it('resolves a keypoint config, flattening pairs, and refuses odd or out-of-range pairs', () => {
    expect(keypointConfigFromProto(undefined)).toEqual(SIMPLEBASELINE_CONFIG);
    const config = keypointConfigFromProto({
      inputHeight: 64,
      inputWidth: 32,
      flipTest: false,
      backboneModel: '',
      keypointNames: ['head', 'left_hand', 'right_hand'],
      skeleton: [0, 1, 0, 2],
      flipPairs: [1, 2],
      oksSigmas: [0.05, 0.05, 0.05],
    });
    expect(config.skeleton).toEqual([
      [0, 1],
      [0, 2],
    ]);
    expect(config.flipPairs).toEqual([[1, 2]]);
    expect(config.flipTest).toBe(false);
    expect(keypointConfigFromProto(keypointConfigToProto(config))).toEqual(config);
    const base = { backboneModel: '', keypointNames: ['a', 'b'], skeleton: [], flipPairs: [], oksSigmas: [] };
    expect(() => keypointConfigFromProto({ ...base, skeleton: [0, 1, 1] })).toThrow(
      /keypoints\.skeleton: expected an even count/,
    );
    expect(() => keypointConfigFromProto({ ...base, flipPairs: [0, 5] })).toThrow(
      /keypoints\.flipPairs: expected pairs of distinct indices below 2/,
    );
    expect(() => keypointConfigFromProto({ ...base, oksSigmas: [0.1] })).toThrow(
      /keypoints\.oksSigmas: expected 2 sigmas/,
    );
    expect(() => keypointConfigFromProto({ ...base, inputWidth: 50 })).toThrow(
      'keypoints.inputWidth: expected a multiple of 32 in [32, 1024], got 50',
    );
  });
});
