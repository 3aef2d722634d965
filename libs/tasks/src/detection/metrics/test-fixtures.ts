// Seeded random detection sets for the metrics' tests: the same seed gives the same boxes here and
// in the pycocotools run that produced the pinned numbers (see coco.test.ts).
import seedrandom from 'seedrandom';
import type { EvalDetection, EvalGroundTruth } from './types';

export interface RandomCase {
  classes: number;
  images: number;
  detections: EvalDetection[];
  groundTruths: EvalGroundTruth[];
}

/**
 * Images "0".."images-1" with 0-4 ground truths per class, from 3 px to 300 px wide (all three
 * area ranges), some crowds and explicit areas; detections near most of them, some with the wrong
 * class, and false positives; with `crowded`, image "0" also gets 150 boxes of class 0 (past
 * maxDets 100).
 */
export function randomCase(seed: number, classes = 3, images = 6, crowded = false): RandomCase {
  const rand = seedrandom(`metrics-${seed}`);
  const size = (): number => Math.exp(rand() * Math.log(100)) * 3;
  const box = (): [number, number, number, number] => {
    const [x, y, w, h] = [rand() * 400, rand() * 400, size(), size()];
    return [x, y, x + w, y + h];
  };
  const detections: EvalDetection[] = [];
  const groundTruths: EvalGroundTruth[] = [];
  for (let i = 0; i < images; i++) {
    const imageId = String(i);
    for (let c = 0; c < classes; c++) {
      const count = Math.floor(rand() * 5);
      for (let g = 0; g < count; g++) {
        const b = box();
        const [w, h] = [b[2] - b[0], b[3] - b[1]];
        const gt: EvalGroundTruth = { imageId, classIndex: c, box: b };
        if (rand() < 0.1) gt.crowd = true;
        if (rand() < 0.2) gt.area = w * h * (0.3 + rand());
        groundTruths.push(gt);
        if (rand() < 0.8) {
          const j = (): number => (rand() - 0.5) * 0.4;
          const x1 = b[0] + j() * w;
          const y1 = b[1] + j() * h;
          const classIndex = rand() < 0.1 ? (c + 1) % classes : c;
          const d = [x1, y1, Math.max(x1, b[2] + j() * w), Math.max(y1, b[3] + j() * h)] as const;
          detections.push({ imageId, classIndex, box: d, score: rand() });
        }
      }
      const falsePositives = Math.floor(rand() * 3);
      for (let f = 0; f < falsePositives; f++)
        detections.push({ imageId, classIndex: c, box: box(), score: rand() });
    }
  }
  if (crowded) {
    for (let f = 0; f < 150; f++) detections.push({ imageId: '0', classIndex: 0, box: box(), score: rand() });
  }
  return { classes, images, detections, groundTruths };
}
