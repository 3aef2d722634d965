// Detection metrics: VOC AP as the authors' SSDLite computes it and COCO AP/AR as pycocotools does.
export { EvalInputError, type EvalBox, type EvalDetection, type EvalGroundTruth } from './types';
export { vocEvaluate, referenceIou, vocAp11, vocApArea, type VocOptions, type VocResult } from './voc';
export { cocoEvaluate, cocoIou, type CocoOptions, type CocoResult } from './coco';
