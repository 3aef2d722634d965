// Segmentation metrics from a confusion matrix accumulated over the whole evaluation set, as the
// reference's `valid.py` (DENSE.md section 3, "Eval"): IoU = TP/(TP+FP+FN) per class, mIoU their
// mean, pixel accuracy; ignored pixels count nowhere.
import { IGNORE_LABEL } from './config';

/** What a confusion matrix gives. */
export interface SegmentationMetrics {
  /**
   * Mean IoU over the classes present (TP+FP+FN > 0: in the labels or in the predictions);
   * NaN when no class is.
   */
  readonly mIoU: number;
  /** Correct labelled pixels over labelled pixels; NaN without labelled pixels. */
  readonly pixelAccuracy: number;
  /** Per class: IoU, or null when the class is neither labelled nor predicted. */
  readonly iou: readonly (number | null)[];
  /** Labelled pixels counted. */
  readonly pixels: number;
}

/** Counts of (label, prediction) pairs over labelled pixels: `counts[label·classes + predicted]`. */
export class ConfusionMatrix {
  readonly counts: Float64Array;

  constructor(readonly classes: number) {
    if (!Number.isSafeInteger(classes) || classes < 1 || classes > IGNORE_LABEL) {
      throw new Error(`confusion matrix: classes must be an integer in [1, ${IGNORE_LABEL}], got ${classes}`);
    }
    this.counts = new Float64Array(classes * classes);
  }

  /**
   * Adds an image's (or a batch's) pixels: `predicted` class indices (floats from `infer` are
   * fine) and `labels` (a class or IGNORE_LABEL), pixel for pixel. A label or prediction outside
   * the classes is a clear error naming `what` and the pixel.
   */
  add(predicted: ArrayLike<number>, labels: ArrayLike<number>, what = 'labels'): void {
    const k = this.classes;
    if (predicted.length !== labels.length) {
      throw new Error(`${what}: ${labels.length} labels for ${predicted.length} predicted pixels`);
    }
    // Checked in full first: a refused batch leaves the counts as they were.
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      if (label === IGNORE_LABEL) continue;
      if (!(Number.isInteger(label) && label >= 0 && label < k)) {
        throw new Error(
          `${what}: pixel ${i} has label ${label}, expected a class in [0, ${k - 1}] or ${IGNORE_LABEL} (ignored)`,
        );
      }
      const p = predicted[i];
      if (!(Number.isInteger(p) && p >= 0 && p < k)) {
        throw new Error(`${what}: pixel ${i} is predicted as ${p}, expected a class in [0, ${k - 1}]`);
      }
    }
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      if (label !== IGNORE_LABEL) this.counts[label * k + predicted[i]]++;
    }
  }

  /** Adds another matrix's counts (same classes). */
  merge(other: ConfusionMatrix): void {
    if (other.classes !== this.classes) {
      throw new Error(`confusion matrix: cannot merge ${other.classes} classes into ${this.classes}`);
    }
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
  }

  metrics(): SegmentationMetrics {
    const k = this.classes;
    let correct = 0;
    let pixels = 0;
    const iou: (number | null)[] = [];
    for (let c = 0; c < k; c++) {
      const tp = this.counts[c * k + c];
      let labelled = 0;
      let predicted = 0;
      for (let j = 0; j < k; j++) {
        labelled += this.counts[c * k + j];
        predicted += this.counts[j * k + c];
      }
      correct += tp;
      pixels += labelled;
      // TP + FP + FN = labelled + predicted − TP.
      const union = labelled + predicted - tp;
      iou.push(union > 0 ? tp / union : null);
    }
    const present = iou.filter((v): v is number => v !== null);
    return {
      mIoU: present.length > 0 ? present.reduce((a, b) => a + b, 0) / present.length : NaN,
      pixelAccuracy: pixels > 0 ? correct / pixels : NaN,
      iou,
      pixels,
    };
  }
}
