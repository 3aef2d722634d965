// SimpleBaseline's training (DENSE.md section 4): each epoch's person instances in a seeded order,
// cropped top-down with the reference's scale / rotation / flip augmentation, normalised with
// ImageNet's mean and std, Gaussian heatmap targets and the joint-weighted MSE. Evaluation: the
// inference-mode loss, then flip-tested heatmaps decoded, mapped back through each crop's inverse
// affine and scored by COCO's OKS AP (the GT boxes as the person boxes, as the reference's
// USE_GT_BBOX) and PCK at 0.2 of the box.
//
// Differences from the reference, on purpose: the trainer's SGD with one learning rate for the
// backbone and the head (the reference trains with Adam at 1e-3); the ImageNet normalisation is
// applied to RGB (the reference normalises cv2's BGR image with RGB statistics); no OKS-NMS over an
// image's persons (with ground-truth boxes each person gives one prediction).
import { tf, type Tensor, type Tensor2D, type Tensor4D } from '@rnas/engine';
import {
  decodePersonImage,
  invertAffine,
  keypointSample,
  type KeypointDataset,
  type PersonInstance,
  type Rng,
} from '@rnas/data';
import type { BatchStats, ParamMap, Sgd } from '@rnas/nas';
import {
  DecodedImageCache,
  definedMetrics,
  evaluateInBatches,
  evaluationItems,
  IMAGENET_MEAN,
  IMAGENET_STD,
  taskRng,
  trainDenseEpoch,
  type DenseTrainingOptions,
} from '../dense-training';
import type { EpochContext, EpochTraining, TaskEvaluation, TaskTraining } from '../task';
import { HEATMAP_STRIDE, resolveKeypointConfig, withDatasetKeypoints } from './config';
import { KEYPOINT_VALUES, keypointsToImage } from './decode';
import { keypointLoss } from './loss';
import {
  keypointEvaluate,
  percentCorrectKeypoints,
  type KeypointDetection,
  type KeypointGroundTruth,
} from './metrics';
import { KeypointNetwork } from './network';
import { keypointTargets } from './targets';

/** ImageNet's RGB mean and std (on the 0..1 scale), what the backbones were trained with. */
export const KEYPOINT_MEAN = IMAGENET_MEAN;
export const KEYPOINT_STD = IMAGENET_STD;
/** The reference's in_vis_thre: keypoints scoring above it make a person's score. */
export const KEYPOINT_SCORE_THRESHOLD = 0.2;
/** PCK's radius as a fraction of the ground-truth box's larger side. */
export const PCK_FRACTION = 0.2;

export type KeypointTrainingOptions = DenseTrainingOptions<KeypointDataset>;

/** A batch on the host: normalised NHWC crops, heatmap targets, joint weights and each crop's affine. */
interface HostKeypointBatch {
  readonly size: number;
  readonly input: Float32Array;
  readonly targets: Float32Array;
  readonly weights: Float32Array;
  /** Crop pixels to image pixels, per crop. */
  readonly inverse: ReturnType<typeof invertAffine>[];
}

/** A person's annotation as the metrics take it. */
export function personGroundTruth(instance: PersonInstance): KeypointGroundTruth {
  return { imageId: instance.imageId, keypoints: instance.keypoints, box: instance.box, area: instance.area };
}

/**
 * The reference's person score: the mean score of its keypoints above 0.2 (in_vis_thre; 0 when
 * none is), times a box score of 1 (ground-truth boxes).
 */
export function personScore(keypoints: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let o = 2; o < keypoints.length; o += KEYPOINT_VALUES) {
    if (keypoints[o] > KEYPOINT_SCORE_THRESHOLD) {
      sum += keypoints[o];
      count++;
    }
  }
  return count > 0 ? sum / count : 0;
}

export function keypointTraining(options: KeypointTrainingOptions): TaskTraining {
  const { dataset, recipe, runStep, checkLoss } = options;
  const k = dataset.keypointNames.length;
  if (options.spec.network.classes !== k) {
    throw new Error(
      `spec.classes: expected the dataset's ${k} keypoints (${dataset.keypointNames.join(', ')}), got ${options.spec.network.classes}`,
    );
  }
  // The model records the dataset's keypoints: names, skeleton, left/right pairs, OKS sigmas.
  const config = withDatasetKeypoints(resolveKeypointConfig(options.spec.keypoints ?? {}), dataset);
  const network = new KeypointNetwork({ ...options.spec, keypoints: config });
  const { inputHeight: height, inputWidth: width } = config;
  const [mapHeight, mapWidth] = network.heatmapShape;
  // Decoded images by file: an image's persons share one decode.
  const cache = new DecodedImageCache(decodePersonImage, (decoded) => decoded.pixels.length);
  const rng = taskRng(recipe, options.randomState);
  const evalInstances = evaluationItems(recipe, dataset.test);
  const weights = network.params.filter((p) => p.kind === 'weight').map((p) => p.name);
  const sampleOptions = {
    inputWidth: width,
    inputHeight: height,
    scaleFactor: config.scaleFactor,
    rotationFactor: config.rotationFactor,
    flipPairs: config.flipPairs,
  };

  /** Decodes and crops persons (augmented when `augment` gives their generator), normalises, builds targets. */
  async function hostBatch(
    instances: readonly PersonInstance[],
    augment: ((i: number) => Rng) | null,
  ): Promise<HostKeypointBatch> {
    const n = instances.length;
    const pixelsPerCrop = height * width * 3;
    const input = new Float32Array(n * pixelsPerCrop);
    const targets = new Float32Array(n * mapHeight * mapWidth * k);
    const jointWeights = new Float32Array(n * k);
    const inverse: HostKeypointBatch['inverse'] = [];
    const decoded = await Promise.all(instances.map((instance) => cache.get(instance)));
    decoded.forEach(({ pixels }, i) => {
      const sample = keypointSample(
        instances[i],
        pixels,
        sampleOptions,
        augment === null ? null : augment(i),
      );
      const offset = i * pixelsPerCrop;
      for (let j = 0; j < pixelsPerCrop; j++) {
        const c = j % 3;
        input[offset + j] = (sample.pixels[j] / 255 - KEYPOINT_MEAN[c]) / KEYPOINT_STD[c];
      }
      const t = keypointTargets(sample.keypoints, {
        heatmapHeight: mapHeight,
        heatmapWidth: mapWidth,
        sigma: config.heatmapSigma,
        stride: HEATMAP_STRIDE,
      });
      targets.set(t.heatmaps, i * mapHeight * mapWidth * k);
      jointWeights.set(t.weights, i * k);
      inverse.push(invertAffine(sample.affine));
    });
    return { size: n, input, targets, weights: jointWeights, inverse };
  }

  /** The batch's loss; inside a gradient closure its intermediates belong to the closure's scope. */
  function batchLoss(
    params: ParamMap,
    x: Tensor4D,
    batch: HostKeypointBatch,
    training: boolean,
    onBatchStats?: (name: string, stats: BatchStats) => void,
  ): Tensor {
    const heatmaps = network.forward(params, x, { training, onBatchStats });
    const targets = tf.tensor4d(batch.targets, [batch.size, mapHeight, mapWidth, k]);
    const jointWeights = tf.tensor2d(batch.weights, [batch.size, k]) as Tensor2D;
    return keypointLoss(heatmaps, targets, jointWeights);
  }

  return {
    network,
    dataFingerprint: {
      uri: dataset.uri,
      format: dataset.format,
      keypoints: dataset.keypointNames,
      trainPersons: dataset.train.length,
      testPersons: dataset.test.length,
    },
    labels: dataset.keypointNames,
    preprocessing: {
      inputHeight: height,
      inputWidth: width,
      channels: 3,
      mean: KEYPOINT_MEAN,
      std: KEYPOINT_STD,
    },
    randomState: () => rng.getState(),
    trainEpoch(params: ParamMap, optimizer: Sgd, context: EpochContext): Promise<EpochTraining> {
      return trainDenseEpoch(params, optimizer, context, {
        train: dataset.train,
        recipe,
        runStep,
        checkLoss,
        inputSize: [height, width],
        hostBatch,
        loss: (x, batch, onBatchStats) => batchLoss(params, x, batch, true, onBatchStats),
        trainable: weights,
        // One learning rate for the backbone and the head.
        lrGroups: [{ lrScale: 1 }],
      });
    },
    async evaluate(params: ParamMap, context): Promise<TaskEvaluation> {
      if (evalInstances.length === 0) return { loss: null, metrics: {}, images: 0 };
      const detections: KeypointDetection[] = [];
      const predictions: Float32Array[] = [];
      const loss = await evaluateInBatches(evalInstances, context, {
        batchSize: recipe.batchSize,
        inputSize: [height, width],
        hostBatch,
        evaluateBatch: (x, batch, picked) => {
          const batchMean = tf.tidy(() => batchLoss(params, x, batch, false).dataSync()[0]);
          const records = network.infer(params, x);
          picked.forEach((instance, i) => {
            const crop = records.subarray(i * network.outputSize, (i + 1) * network.outputSize);
            const keypoints = keypointsToImage(crop, batch.inverse[i]);
            predictions.push(keypoints);
            detections.push({ imageId: instance.imageId, keypoints, score: personScore(keypoints) });
          });
          return batchMean;
        },
      });
      const truths = evalInstances.map(personGroundTruth);
      const coco = keypointEvaluate(detections, truths, { sigmas: config.oksSigmas });
      const metrics = {
        AP: coco.AP,
        AP50: coco.AP50,
        AP75: coco.AP75,
        PCK: percentCorrectKeypoints(predictions, truths, PCK_FRACTION),
      };
      // Undefined metrics (no labelled keypoint among the persons) are left out.
      return { loss, metrics: definedMetrics(metrics), images: evalInstances.length };
    },
  };
}
