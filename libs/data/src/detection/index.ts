export {
  type ObjectBox,
  type DetectionImage,
  type DetectionDataset,
  type LoadedDetection,
  VOC_CLASSES,
  AnnotationError,
  trainingObjects,
} from './types';
export { openDetectionDataset } from './open';
export { decodeDetectionImage, DEFAULT_MAX_DETECTION_PIXELS } from './decode';
export {
  augmentDetection,
  resizeDetection,
  detectionSample,
  EXPAND_FILL,
  type DetectionSample,
  type DetectionAugmentMode,
} from './augment';
export { writeDetectionShapes, DETECTION_SHAPES, type DetectionShapesOptions } from './synthetic';
export { parseVocAnnotation, MAX_VOC_XML_BYTES } from './voc';
export { parseCocoJson } from './coco';
