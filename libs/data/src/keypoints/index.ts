export {
  type KeypointPair,
  type PersonInstance,
  type KeypointDataset,
  COCO_KEYPOINT_NAMES,
  COCO_SKELETON,
  COCO_FLIP_PAIRS,
  COCO_OKS_SIGMAS,
  DEFAULT_OKS_SIGMA,
  defaultOksSigmas,
  flipPairsFromNames,
} from './types';
export { openKeypointDataset } from './open';
export { loadCocoKeypoints, MAX_DATASET_KEYPOINTS, type LoadedKeypoints } from './coco';
export {
  type Affine,
  PIXEL_STD,
  boxCenterScale,
  cropAffine,
  affineFromPoints,
  applyAffine,
  invertAffine,
  warpAffine,
} from './affine';
export {
  decodePersonImage,
  keypointSample,
  ROTATION_PROBABILITY,
  FLIP_PROBABILITY,
  type KeypointSample,
  type KeypointSampleOptions,
} from './crop';
export {
  writeKeypointFigures,
  FIGURE_KEYPOINT_NAMES,
  FIGURE_SKELETON,
  FIGURE_OKS_SIGMAS,
  type KeypointFiguresOptions,
} from './synthetic';
