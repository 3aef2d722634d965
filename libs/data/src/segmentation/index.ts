export {
  type SegmentationImage,
  type SegmentationDataset,
  type SegmentationSample,
  SEGMENTATION_IGNORE,
  VOC_SEG_CLASSES,
  CITYSCAPES_CLASSES,
  CITYSCAPES_TRAIN_IDS,
} from './types';
export { openSegmentationDataset } from './open';
export { decodeSegmentationSample } from './decode';
export { augmentSegmentation, resizeSegmentation, type SegmentationAugmentOptions } from './augment';
export { writeSegmentationShapes, SEGMENTATION_SHAPES, type SegmentationShapesOptions } from './synthetic';
