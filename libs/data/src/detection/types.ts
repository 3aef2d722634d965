// What a detection dataset is once opened: every annotation parsed and every image file found, so
// that a bad dataset is reported before training starts rather than an epoch into it.
import { DataError, type DataErrorCode } from '../errors';

/**
 * One annotated object, in pixels of the stored image (0-based floats). VOC's 1-based coordinates
 * are read minus 1, as the reference does (`S/datasets/voc_dataset.py`); COCO's x,y,w,h become
 * corners. `classIndex` is 0-based among the dataset's classNames (no background class).
 */
export interface ObjectBox {
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
  classIndex: number;
  /** VOC's `difficult`: left out of training and ignored by VOC AP. */
  difficult: boolean;
  /** COCO's `iscrowd`: left out of training and ignored by COCO AP. */
  crowd: boolean;
}

export interface DetectionImage {
  id: string;
  /** Absolute (real) path of the image file, checked to lie under the data roots. */
  file: string;
  /** The size the annotation gives; decoding checks the file has it. */
  width: number;
  height: number;
  objects: readonly ObjectBox[];
}

export interface DetectionDataset {
  uri: string;
  name: string;
  format: 'voc' | 'coco';
  classNames: readonly string[];
  train: readonly DetectionImage[];
  test: readonly DetectionImage[];
}

/** What a format's reader returns: the class names and both splits. */
export interface LoadedDetection {
  classNames: string[];
  train: DetectionImage[];
  test: DetectionImage[];
}

/** The 20 Pascal VOC classes, in the reference's order (without its BACKGROUND). */
export const VOC_CLASSES: readonly string[] = [
  'aeroplane',
  'bicycle',
  'bird',
  'boat',
  'bottle',
  'bus',
  'car',
  'cat',
  'chair',
  'cow',
  'diningtable',
  'dog',
  'horse',
  'motorbike',
  'person',
  'pottedplant',
  'sheep',
  'sofa',
  'train',
  'tvmonitor',
];

/**
 * A detection annotation (or the files it names) that is not what its format says: names the file,
 * where in it (a line, an object, an id), what was expected and what was found. FAILED_PRECONDITION
 * for a malformed file, NOT_FOUND for a file it names that is not there, as the other loaders.
 */
export class AnnotationError extends DataError {
  constructor(
    readonly file: string,
    readonly location: string | undefined,
    readonly expected: string,
    readonly got: string,
    code: DataErrorCode = 'FAILED_PRECONDITION',
  ) {
    super(code, `${file}${location === undefined ? '' : ` ${location}`}: expected ${expected}, got ${got}`);
    this.name = 'AnnotationError';
  }
}

/**
 * A box read from an annotation, checked against its image: finite, positive area, inside the
 * image. One pixel of overhang is tolerated and clipped (annotation rounding, VOC's 0 written for
 * the first column); beyond that the box is an error naming where it came from.
 */
export function checkedBox(
  file: string,
  location: string,
  box: { xMin: number; yMin: number; xMax: number; yMax: number },
  width: number,
  height: number,
): { xMin: number; yMin: number; xMax: number; yMax: number } {
  const { xMin, yMin, xMax, yMax } = box;
  const got = `[${xMin}, ${yMin}, ${xMax}, ${yMax}]`;
  if (![xMin, yMin, xMax, yMax].every(Number.isFinite)) {
    throw new AnnotationError(file, location, 'finite box coordinates', got);
  }
  if (!(xMax > xMin && yMax > yMin)) {
    throw new AnnotationError(file, location, 'a box of positive area (xMax > xMin, yMax > yMin)', got);
  }
  const slack = 1;
  if (xMin < -slack || yMin < -slack || xMax > width + slack || yMax > height + slack) {
    throw new AnnotationError(
      file,
      location,
      `a box inside the ${width}x${height} image (x in [0, ${width}], y in [0, ${height}])`,
      got,
    );
  }
  const clipped = {
    xMin: Math.max(0, xMin),
    yMin: Math.max(0, yMin),
    xMax: Math.min(width, xMax),
    yMax: Math.min(height, yMax),
  };
  if (!(clipped.xMax > clipped.xMin && clipped.yMax > clipped.yMin)) {
    throw new AnnotationError(file, location, 'a box overlapping the image', got);
  }
  return clipped;
}

/** The objects a training step learns from: difficult and crowd boxes left out, as the reference. */
export function trainingObjects(image: DetectionImage): ObjectBox[] {
  return image.objects.filter((o) => !o.difficult && !o.crowd);
}
