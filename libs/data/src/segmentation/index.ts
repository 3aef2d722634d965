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
