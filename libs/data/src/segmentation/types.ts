// What a segmentation dataset is once opened: every listed image and its label map found, with
// their sizes read from the headers, so a missing or mismatched file is reported before training
// starts. Pixels and labels are decoded per sample (decode.ts).
import { VOC_CLASSES } from '../detection/types';

export interface SegmentationImage {
  /** VOC: the image id; Cityscapes: `<city>/<name>`. */
  id: string;
  /** Absolute (real) path of the image file, checked to lie under the data roots. */
  file: string;
  /** Absolute (real) path of its label map (VOC palette PNG, Cityscapes labelIds PNG). */
  maskFile: string;
  /** The image's size (upright, after EXIF orientation); its label map has the same. */
  width: number;
  height: number;
}

export interface SegmentationDataset {
  uri: string;
  name: string;
  format: 'voc-seg' | 'cityscapes';
  /** Class index i is classNames[i]; VOC's 0 is the background. 255 is the ignore label. */
  classNames: readonly string[];
  train: readonly SegmentationImage[];
  test: readonly SegmentationImage[];
}

/** A decoded sample: RGB bytes (HWC) and one label per pixel, a class index or 255 (ignore). */
export interface SegmentationSample {
  pixels: Uint8Array;
  mask: Uint8Array;
  width: number;
  height: number;
}

/** The label of pixels left out of the loss and the metrics (VOC's object borders, padding). */
export const SEGMENTATION_IGNORE = 255;

/** Pascal VOC's 21 segmentation classes: the background, then the 20 object classes in VOC order. */
export const VOC_SEG_CLASSES: readonly string[] = ['background', ...VOC_CLASSES];

/** Cityscapes' 19 training classes, in trainId order (cityscapesScripts `labels.py`). */
export const CITYSCAPES_CLASSES: readonly string[] = [
  'road',
  'sidewalk',
  'building',
  'wall',
  'fence',
  'pole',
  'traffic light',
  'traffic sign',
  'vegetation',
  'terrain',
  'sky',
  'person',
  'rider',
  'car',
  'truck',
  'bus',
  'train',
  'motorcycle',
  'bicycle',
];

/**
 * Cityscapes labelId (0..33, the values of `*_gtFine_labelIds.png`) to trainId, 255 for the
 * classes not trained on (cityscapesScripts `labels.py`). The licence plate's labelId -1 cannot
 * occur in an 8-bit PNG; its trainId is 255 too.
 */
export const CITYSCAPES_TRAIN_IDS: readonly number[] = [
  255, // 0 unlabeled
  255, // 1 ego vehicle
  255, // 2 rectification border
  255, // 3 out of roi
  255, // 4 static
  255, // 5 dynamic
  255, // 6 ground
  0, // 7 road
  1, // 8 sidewalk
  255, // 9 parking
  255, // 10 rail track
  2, // 11 building
  3, // 12 wall
  4, // 13 fence
  255, // 14 guard rail
  255, // 15 bridge
  255, // 16 tunnel
  5, // 17 pole
  255, // 18 polegroup
  6, // 19 traffic light
  7, // 20 traffic sign
  8, // 21 vegetation
  9, // 22 terrain
  10, // 23 sky
  11, // 24 person
  12, // 25 rider
  13, // 26 car
  14, // 27 truck
  15, // 28 bus
  255, // 29 caravan
  255, // 30 trailer
  16, // 31 train
  17, // 32 motorcycle
  18, // 33 bicycle
];
