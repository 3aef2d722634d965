import { getPublishedGenotype, type NetworkSpec } from '@rnas/nas';
import { ClassificationNetwork } from './classification/network';
import { DetectionNetwork } from './detection/network';
import { KeypointNetwork } from './keypoints/network';
import { SegmentationNetwork } from './segmentation/network';
import { taskNetwork } from './networks';
import type { TaskModelSpec } from './task';

const NETWORK: NetworkSpec = {
  variant: 'imagenet',
  genotype: getPublishedGenotype('RelativeNAS'),
  channels: 8,
  layers: 5,
  classes: 20,
  inChannels: 3,
  auxiliary: false,
};

describe('taskNetwork', () => {
  it('builds the network of the spec’s task', () => {
    expect(taskNetwork({ task: 'classification', network: NETWORK })).toBeInstanceOf(ClassificationNetwork);
    const det = taskNetwork({ task: 'detection', network: NETWORK, detection: { inputSize: 128 } as never });
    expect(det).toBeInstanceOf(DetectionNetwork);
    expect((det as DetectionNetwork).config.inputSize).toBe(128);
    const pose = taskNetwork({
      task: 'keypoints',
      network: { ...NETWORK, classes: 3 },
      keypoints: { inputHeight: 64, inputWidth: 32 } as never,
    });
    expect(pose).toBeInstanceOf(KeypointNetwork);
    expect((pose as KeypointNetwork).heatmapShape).toEqual([16, 8, 3]);
    const seg = taskNetwork({
      task: 'segmentation',
      network: NETWORK,
      segmentation: { inputHeight: 64, inputWidth: 96 } as never,
    });
    expect(seg).toBeInstanceOf(SegmentationNetwork);
    expect(seg.outputSize).toBe(64 * 96);
  });

  it.each([['pose'], [''], [undefined], [null], [7]])('refuses the task %j', (task) => {
    expect(() => taskNetwork({ task, network: NETWORK } as unknown as TaskModelSpec)).toThrow(
      /model spec: task must be one of classification, detection, segmentation, keypoints, got/,
    );
  });
});
