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
  detectionSample,
  resizeDetection,
  trainingObjects,
  type DetectionDataset,
  type DetectionImage,
  type Rng,
} from '@rnas/data';
import type { BatchStats, ParamMap, Sgd } from '@rnas/nas';
import {
  DecodedImageCache,
  definedMetrics,
  evaluateInBatches,
  evaluationItems,
  taskRng,
  trainDenseEpoch,
  type DenseTrainingOptions,
} from '../dense-training';
import type { EpochContext, EpochTraining, TaskEvaluation, TaskTraining } from '../task';
import type { Detection } from './record';
import { multiboxLoss } from './loss';
import { matchPriors, type PriorTargets } from './matching';
import { cocoEvaluate, vocEvaluate, type EvalDetection, type EvalGroundTruth } from './metrics';
import { DetectionNetwork, isBackboneParam } from './network';

/** The reference's `image_mean` and `image_std`: (v - 127) / 128 on the 0..255 scale. */
export const DETECTION_MEAN = 127;
export const DETECTION_STD = 128;

export type DetectionTrainingOptions = DenseTrainingOptions<DetectionDataset>;

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
  const cache = new DecodedImageCache(decodeDetectionImage, (decoded) => decoded.pixels.length);
  const rng = taskRng(recipe, options.randomState);
  const evalImages = evaluationItems(recipe, dataset.test);
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
    trainEpoch(params: ParamMap, optimizer: Sgd, context: EpochContext): Promise<EpochTraining> {
      return trainDenseEpoch(params, optimizer, context, {
        train: dataset.train,
        recipe,
        runStep,
        checkLoss,
        inputSize: [size, size],
        hostBatch,
        loss: (x, batch, onBatchStats) => batchLoss(params, x, batch, true, onBatchStats),
        // The backbone frozen for the first epochs, then at its own scale of the learning rate.
        trainable: context.epoch < config.freezeBackboneEpochs ? headWeights : weights,
        lrGroups: [{ includes: isBackboneParam, lrScale: config.backboneLrScale }, { lrScale: 1 }],
      });
    },
    async evaluate(params: ParamMap, context): Promise<TaskEvaluation> {
      if (evalImages.length === 0) return { loss: null, metrics: {}, images: 0 };
      const detections: EvalDetection[] = [];
      const truths: EvalGroundTruth[] = [];
      const loss = await evaluateInBatches(evalImages, context, {
        batchSize: recipe.batchSize,
        inputSize: [size, size],
        hostBatch,
        evaluateBatch: (x, batch, picked) => {
          const out = network.forward(params, x);
          let batchLoss: number;
          let found: Detection[][];
          try {
            batchLoss = tf.tidy(
              () => multiboxLoss(out.locations, out.confidences, batch.targets).loss.dataSync()[0],
            );
            found = network.detections(out);
          } finally {
            out.locations.dispose();
            out.confidences.dispose();
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
          return batchLoss;
        },
      });
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
      return { loss, metrics: definedMetrics(metrics), images: evalImages.length };
    },
  };
}
