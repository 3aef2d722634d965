// Detection's training (DENSE.md section 2): each epoch's images in a seeded order, decoded,
// augmented as the reference (photometric distortion, expand, crop, mirror, resize), normalised
// with mean 127 and std 128, their boxes matched to the priors; the multibox loss; the backbone
// frozen for the first epochs or at a scaled learning rate. Evaluation: the inference-mode loss,
// then detections (score > 0.01, per-class NMS at 0.45, as the reference's predictor) scored by
// VOC AP at IoU 0.5 (all-point and 11-point) and by COCO's AP and AR.
import { tf, type Tensor, type Tensor4D } from '@rnas/engine';
import {
  augmentDetection,
  decodeDetectionImage,
  deriveSeed,
  detectionSample,
  resizeDetection,
  Rng,
  trainingObjects,
  type DetectionDataset,
  type DetectionImage,
  type RngState,
} from '@rnas/data';
import { gradientStep, type BatchStats, type ParamMap, type Sgd } from '@rnas/nas';
import { checkAborted, nextTick } from '../classification/training';
import type {
  EpochContext,
  EpochTraining,
  TaskEvaluation,
  TaskModelSpec,
  TaskRecipe,
  TaskTraining,
} from '../task';
import type { Detection } from './record';
import { multiboxLoss } from './loss';
import { matchPriors, type PriorTargets } from './matching';
import { cocoEvaluate, vocEvaluate, type EvalDetection, type EvalGroundTruth } from './metrics';
import { DetectionNetwork, isBackboneParam } from './network';

/** The reference's `image_mean` and `image_std`: (v - 127) / 128 on the 0..255 scale. */
export const DETECTION_MEAN = 127;
export const DETECTION_STD = 128;
/** Decoded images kept in memory across epochs, at most (beyond it, images decode every time). */
const CACHE_BYTES = 1024 * 1024 * 1024;

export interface DetectionTrainingOptions {
  readonly spec: TaskModelSpec;
  readonly dataset: DetectionDataset;
  readonly recipe: TaskRecipe;
  readonly randomState?: RngState;
  readonly runStep: <T>(epoch: number, batch: number, step: () => T) => T;
  readonly checkLoss: (loss: number, epoch: number, batch: number) => void;
}

/** Decoded images by file, within a byte budget. */
class ImageCache {
  private readonly images = new Map<string, { pixels: Uint8Array; width: number; height: number }>();
  private bytes = 0;
  async get(image: DetectionImage): Promise<{ pixels: Uint8Array; width: number; height: number }> {
    const hit = this.images.get(image.file);
    if (hit !== undefined) return hit;
    const decoded = await decodeDetectionImage(image);
    if (this.bytes + decoded.pixels.length <= CACHE_BYTES) {
      this.images.set(image.file, decoded);
      this.bytes += decoded.pixels.length;
    }
    return decoded;
  }
}

/** A batch on the host: normalised NHWC input and each image's prior targets. */
interface HostDetectionBatch {
  readonly input: Float32Array;
  readonly size: number;
  readonly targets: PriorTargets[];
}

/** An annotated image's boxes as the metrics take them (difficult and crowd flags kept). */
export function groundTruths(image: DetectionImage): EvalGroundTruth[] {
  return image.objects.map((o) => ({
    imageId: image.id,
    classIndex: o.classIndex,
    box: [o.xMin, o.yMin, o.xMax, o.yMax],
    difficult: o.difficult,
    crowd: o.crowd,
  }));
}

export function detectionTraining(options: DetectionTrainingOptions): TaskTraining {
  const { spec, dataset, recipe, runStep, checkLoss } = options;
  if (spec.network.classes !== dataset.classNames.length) {
    throw new Error(
      `spec.classes: expected the dataset's ${dataset.classNames.length} classes, got ${spec.network.classes}`,
    );
  }
  const network = new DetectionNetwork(spec);
  const config = network.config;
  const size = config.inputSize;
  const priors = network.priors();
  const cache = new ImageCache();
  const rng =
    options.randomState === undefined
      ? Rng.fromSeed(deriveSeed(recipe.seed, 1))
      : Rng.fromState(options.randomState);
  const evalImages =
    recipe.evalImages === 0 || recipe.evalImages >= dataset.test.length
      ? dataset.test
      : dataset.test.slice(0, recipe.evalImages);
  const weights = network.params.filter((p) => p.kind === 'weight').map((p) => p.name);
  const headWeights = weights.filter((name) => !isBackboneParam(name));

  /** Decodes, (augments,) resizes and normalises images, and matches their boxes to the priors. */
  async function hostBatch(
    images: readonly DetectionImage[],
    augment: ((i: number) => Rng) | null,
  ): Promise<HostDetectionBatch> {
    const input = new Float32Array(images.length * size * size * 3);
    const targets: PriorTargets[] = [];
    const decoded = await Promise.all(images.map((image) => cache.get(image)));
    decoded.forEach((pixels, i) => {
      const image = images[i];
      let sample = detectionSample(pixels, augment === null ? image.objects : trainingObjects(image));
      if (augment !== null) sample = augmentDetection(sample, augment(i), config.augmentation);
      const resized = resizeDetection(sample, size);
      const offset = i * size * size * 3;
      for (let j = 0; j < resized.pixels.length; j++) {
        input[offset + j] = (resized.pixels[j] - DETECTION_MEAN) / DETECTION_STD;
      }
      targets.push(matchPriors(resized.boxes, resized.labels, priors, config.matchIou, image.file));
    });
    return { input, size: images.length, targets };
  }

  /** The batch's loss; inside a gradient closure its intermediates belong to the closure's scope. */
  function batchLoss(
    params: ParamMap,
    x: Tensor4D,
    batch: HostDetectionBatch,
    training: boolean,
    onBatchStats?: (name: string, stats: BatchStats) => void,
  ): Tensor {
    const out = network.forward(params, x, { training, onBatchStats });
    return multiboxLoss(out.locations, out.confidences, batch.targets).loss;
  }

  return {
    network,
    dataFingerprint: {
      uri: dataset.uri,
      format: dataset.format,
      classes: dataset.classNames,
      trainImages: dataset.train.length,
      testImages: dataset.test.length,
    },
    labels: dataset.classNames,
    preprocessing: {
      inputHeight: size,
      inputWidth: size,
      channels: 3,
      mean: [DETECTION_MEAN / 255, DETECTION_MEAN / 255, DETECTION_MEAN / 255],
      std: [DETECTION_STD / 255, DETECTION_STD / 255, DETECTION_STD / 255],
    },
    randomState: () => rng.getState(),
    async trainEpoch(params: ParamMap, optimizer: Sgd, context: EpochContext): Promise<EpochTraining> {
      const { epoch, signal, cancelled, learningRate } = context;
      const order = Rng.fromSeed(deriveSeed(recipe.seed, 2, epoch)).permutation(dataset.train.length);
      const count = recipe.trainImages === 0 ? order.length : Math.min(recipe.trainImages, order.length);
      const frozen = epoch < config.freezeBackboneEpochs;
      let loss = 0;
      let images = 0;
      let stepMs = 0;
      const batches = Math.ceil(count / recipe.batchSize);
      for (let b = 0; b < batches; b++) {
        const start = b * recipe.batchSize;
        const n = Math.min(recipe.batchSize, count - start);
        // A batch of one image would make batch norm's unbiased variance divide by zero.
        if (n < 2) break;
        await nextTick();
        checkAborted(signal, cancelled);
        const picked = Array.from(order.subarray(start, start + n), (i) => dataset.train[i]);
        const batch = await hostBatch(picked, (i) =>
          Rng.fromSeed(deriveSeed(recipe.seed, 3, epoch, start + i)),
        );
        const started = performance.now();
        const x = tf.tensor4d(batch.input, [batch.size, size, size, 3]);
        let step: { loss: number };
        try {
          step = runStep(epoch, b, () =>
            gradientStep(
              params,
              frozen ? headWeights : weights,
              (onBatchStats) => batchLoss(params, x, batch, true, onBatchStats),
              (grads) => {
                const backbone = new Map([...grads].filter(([name]) => isBackboneParam(name)));
                const head = new Map([...grads].filter(([name]) => !isBackboneParam(name)));
                let norm = 0;
                if (backbone.size > 0 && config.backboneLrScale > 0) {
                  optimizer.lr = learningRate * config.backboneLrScale;
                  norm += optimizer.step(params, backbone) ** 2;
                }
                optimizer.lr = learningRate;
                norm += optimizer.step(params, head) ** 2;
                return Math.sqrt(norm);
              },
            ),
          );
        } finally {
          x.dispose();
        }
        stepMs += performance.now() - started;
        checkLoss(step.loss, epoch, b);
        loss += step.loss * n;
        images += n;
      }
      return { loss: images > 0 ? loss / images : 0, accuracy: null, images, stepMs };
    },
    async evaluate(params: ParamMap, context): Promise<TaskEvaluation> {
      if (evalImages.length === 0) return { loss: null, metrics: {}, images: 0 };
      const detections: EvalDetection[] = [];
      const truths: EvalGroundTruth[] = [];
      let loss = 0;
      for (let start = 0; start < evalImages.length; start += recipe.batchSize) {
        await nextTick();
        checkAborted(context.signal, context.cancelled);
        const picked = evalImages.slice(start, start + recipe.batchSize);
        const batch = await hostBatch(picked, null);
        const x = tf.tensor4d(batch.input, [batch.size, size, size, 3]);
        let found: Detection[][];
        try {
          const out = network.forward(params, x);
          try {
            loss +=
              tf.tidy(() => multiboxLoss(out.locations, out.confidences, batch.targets).loss.dataSync()[0]) *
              batch.size;
            found = network.detections(out);
          } finally {
            out.locations.dispose();
            out.confidences.dispose();
          }
        } finally {
          x.dispose();
        }
        picked.forEach((image, i) => {
          for (const d of found[i]) {
            detections.push({
              imageId: image.id,
              classIndex: d.classIndex,
              score: d.score,
              box: [
                d.box[0] * image.width,
                d.box[1] * image.height,
                d.box[2] * image.width,
                d.box[3] * image.height,
              ],
            });
          }
          truths.push(...groundTruths(image));
        });
      }
      const classes = dataset.classNames.length;
      const voc = vocEvaluate(detections, truths, { classes, use07Metric: false });
      const voc07 = vocEvaluate(detections, truths, { classes, use07Metric: true });
      const coco = cocoEvaluate(detections, truths, { classes });
      const metrics = {
        AP50: voc.mAP,
        AP50_11pt: voc07.mAP,
        AP: coco.AP,
        AP75: coco.AP75,
        APs: coco.APs,
        APm: coco.APm,
        APl: coco.APl,
        AR100: coco.AR100,
      };
      return {
        loss: loss / evalImages.length,
        // Undefined metrics (no ground truth of any class, no object of a size range) are left out.
        metrics: Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v) && v >= 0)),
        images: evalImages.length,
      };
    },
  };
}
