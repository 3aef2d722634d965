// Segmentation's training (DENSE.md section 3): each epoch's images in a seeded order, decoded
// once (cached), augmented jointly with their label maps (scale, crop with ignore padding, flip)
// to the network's input size, normalised with ImageNet's mean and std; the pixel cross-entropy
// of the main and both auxiliary outputs; the head (everything outside the backbone: the context
// path's modules, the spatial path, the fusion module and the outputs) at `headLrScale` times the
// backbone's learning rate. Evaluation: the images resized to the input size, the inference-mode
// loss of the main output and a confusion matrix over the whole split (mIoU, pixel accuracy, IoU
// per class).
import { tf, type Tensor, type Tensor4D } from '@rnas/engine';
import {
  augmentSegmentation,
  decodeSegmentationSample,
  resizeSegmentation,
  type Rng,
  type SegmentationDataset,
  type SegmentationImage,
  type SegmentationSample,
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
import { pixelCrossEntropy, pixelLabels, segmentationLoss, type PixelLabels } from './loss';
import { ConfusionMatrix } from './metrics';
import { isBackboneParam, labelMap, SegmentationNetwork } from './network';

/** ImageNet's RGB mean and std on the 0..1 scale (the reference's `transform.py`). */
export const SEGMENTATION_MEAN = IMAGENET_MEAN;
export const SEGMENTATION_STD = IMAGENET_STD;

export type SegmentationTrainingOptions = DenseTrainingOptions<SegmentationDataset>;

/** A batch on the host: normalised NHWC input and its labels, checked. */
interface HostSegmentationBatch {
  readonly input: Float32Array;
  readonly size: number;
  readonly target: PixelLabels;
}

/** (v / 255 − mean[c]) / std[c] of RGB bytes, into `out` from `offset`. */
export function normaliseImageNet(pixels: Uint8Array, out: Float32Array, offset: number): void {
  const scale = SEGMENTATION_STD.map((s) => 1 / (255 * s));
  const shift = SEGMENTATION_MEAN.map((m, c) => m / SEGMENTATION_STD[c]);
  for (let j = 0; j < pixels.length; j++) {
    const c = j % 3;
    out[offset + j] = pixels[j] * scale[c] - shift[c];
  }
}

export function segmentationTraining(options: SegmentationTrainingOptions): TaskTraining {
  const { spec, dataset, recipe, runStep, checkLoss } = options;
  if (spec.network.classes !== dataset.classNames.length) {
    throw new Error(
      `spec.classes: expected the dataset's ${dataset.classNames.length} classes, got ${spec.network.classes}`,
    );
  }
  if (spec.network.inChannels !== 3) {
    throw new Error(
      `spec.inChannels: segmentation trains on RGB images, expected 3, got ${spec.network.inChannels}`,
    );
  }
  const network = new SegmentationNetwork(spec);
  const config = network.config;
  const height = config.inputHeight;
  const width = config.inputWidth;
  const classes = network.classes;
  // Decoded samples: the image and its label map.
  const cache = new DecodedImageCache(
    (image: SegmentationImage) => decodeSegmentationSample(image, dataset),
    (sample: SegmentationSample) => sample.pixels.length + sample.mask.length,
  );
  const rng = taskRng(recipe, options.randomState);
  const evalImages = evaluationItems(recipe, dataset.test);
  const weights = network.params.filter((p) => p.kind === 'weight').map((p) => p.name);

  /** Decodes, augments (training) or resizes (evaluation), normalises, and checks the labels. */
  async function hostBatch(
    images: readonly SegmentationImage[],
    augment: ((i: number) => Rng) | null,
  ): Promise<HostSegmentationBatch> {
    const pixels = height * width;
    const input = new Float32Array(images.length * pixels * 3);
    const labels = new Uint8Array(images.length * pixels);
    const samples = await Promise.all(images.map((image) => cache.get(image)));
    let labelled = 0;
    samples.forEach((sample, i) => {
      const out =
        augment === null
          ? resizeSegmentation(sample, height, width)
          : augmentSegmentation(sample, augment(i), { scales: config.scales, height, width });
      normaliseImageNet(out.pixels, input, i * pixels * 3);
      // Decoding checked the labels against the dataset; this names the file if a class count
      // and a dataset ever disagree.
      labelled += pixelLabels(out.mask, classes, images[i].maskFile).labelled;
      labels.set(out.mask, i * pixels);
    });
    return { input, size: images.length, target: { labels, labelled } };
  }

  /** The batch's training loss; inside a gradient closure its intermediates belong to the closure's scope. */
  function trainingLoss(
    params: ParamMap,
    x: Tensor4D,
    batch: HostSegmentationBatch,
    onBatchStats: (name: string, stats: BatchStats) => void,
  ): Tensor {
    const out = network.forward(params, x, { training: true, onBatchStats });
    return segmentationLoss(out, batch.target, config.auxiliaryWeight);
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
      inputHeight: height,
      inputWidth: width,
      channels: 3,
      mean: SEGMENTATION_MEAN,
      std: SEGMENTATION_STD,
    },
    randomState: () => rng.getState(),
    trainEpoch(params: ParamMap, optimizer: Sgd, context: EpochContext): Promise<EpochTraining> {
      // A batch of one image would also leave the 1x1 attention maps' batch norms one value per
      // channel: the shared loop leaves a last batch of one out.
      return trainDenseEpoch(params, optimizer, context, {
        train: dataset.train,
        recipe,
        runStep,
        checkLoss,
        inputSize: [height, width],
        hostBatch,
        loss: (x, batch, onBatchStats) => trainingLoss(params, x, batch, onBatchStats),
        trainable: weights,
        // The head (everything outside the backbone) at headLrScale times the backbone's rate.
        lrGroups: [{ includes: isBackboneParam, lrScale: 1 }, { lrScale: config.headLrScale }],
      });
    },
    async evaluate(params: ParamMap, context): Promise<TaskEvaluation> {
      if (evalImages.length === 0) return { loss: null, metrics: {}, images: 0 };
      const confusion = new ConfusionMatrix(classes);
      const pixels = height * width;
      const loss = await evaluateInBatches(evalImages, context, {
        batchSize: recipe.batchSize,
        inputSize: [height, width],
        hostBatch,
        evaluateBatch: (x, batch, picked) => {
          const { main } = network.forward(params, x);
          try {
            const batchLoss = tf.tidy(() => pixelCrossEntropy(main, batch.target).dataSync()[0]);
            const predicted = labelMap(main);
            picked.forEach((image, i) => {
              const range = [i * pixels, (i + 1) * pixels] as const;
              confusion.add(
                predicted.subarray(...range),
                batch.target.labels.subarray(...range),
                image.maskFile,
              );
            });
            return batchLoss;
          } finally {
            main.dispose();
          }
        },
      });
      const result = confusion.metrics();
      const metrics: Record<string, number> = {
        mIoU: result.mIoU,
        pixel_accuracy: result.pixelAccuracy,
      };
      result.iou.forEach((v, c) => {
        if (v !== null) metrics[`IoU/${dataset.classNames[c]}`] = v;
      });
      // Undefined metrics (no labelled pixel in the whole split) are left out.
      return { loss, metrics: definedMetrics(metrics), images: evalImages.length };
    },
  };
}
