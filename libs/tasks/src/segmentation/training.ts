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
  deriveSeed,
  resizeSegmentation,
  Rng,
  type RngState,
  type SegmentationDataset,
  type SegmentationImage,
  type SegmentationSample,
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
import { pixelCrossEntropy, pixelLabels, segmentationLoss, type PixelLabels } from './loss';
import { ConfusionMatrix } from './metrics';
import { isBackboneParam, labelMap, SegmentationNetwork } from './network';

/** ImageNet's RGB mean and std on the 0..1 scale (the reference's `transform.py`). */
export const SEGMENTATION_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const SEGMENTATION_STD: readonly number[] = [0.229, 0.224, 0.225];
/** Decoded samples kept in memory across epochs, at most (beyond it, images decode every time). */
const CACHE_BYTES = 1024 * 1024 * 1024;

export interface SegmentationTrainingOptions {
  readonly spec: TaskModelSpec;
  readonly dataset: SegmentationDataset;
  readonly recipe: TaskRecipe;
  readonly randomState?: RngState;
  readonly runStep: <T>(epoch: number, batch: number, step: () => T) => T;
  readonly checkLoss: (loss: number, epoch: number, batch: number) => void;
}

/** Decoded samples by image file, within a byte budget. */
class SampleCache {
  private readonly samples = new Map<string, SegmentationSample>();
  private bytes = 0;
  constructor(private readonly dataset: SegmentationDataset) {}
  async get(image: SegmentationImage): Promise<SegmentationSample> {
    const hit = this.samples.get(image.file);
    if (hit !== undefined) return hit;
    const sample = await decodeSegmentationSample(image, this.dataset);
    const size = sample.pixels.length + sample.mask.length;
    if (this.bytes + size <= CACHE_BYTES) {
      this.samples.set(image.file, sample);
      this.bytes += size;
    }
    return sample;
  }
}

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
  const cache = new SampleCache(dataset);
  const rng =
    options.randomState === undefined
      ? Rng.fromSeed(deriveSeed(recipe.seed, 1))
      : Rng.fromState(options.randomState);
  const evalImages =
    recipe.evalImages === 0 || recipe.evalImages >= dataset.test.length
      ? dataset.test
      : dataset.test.slice(0, recipe.evalImages);
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
    async trainEpoch(params: ParamMap, optimizer: Sgd, context: EpochContext): Promise<EpochTraining> {
      const { epoch, signal, cancelled, learningRate } = context;
      const order = Rng.fromSeed(deriveSeed(recipe.seed, 2, epoch)).permutation(dataset.train.length);
      const count = recipe.trainImages === 0 ? order.length : Math.min(recipe.trainImages, order.length);
      let loss = 0;
      let images = 0;
      let stepMs = 0;
      const batches = Math.ceil(count / recipe.batchSize);
      for (let b = 0; b < batches; b++) {
        const start = b * recipe.batchSize;
        const n = Math.min(recipe.batchSize, count - start);
        // A batch of one image would leave the 1x1 attention maps' batch norms one value per
        // channel (no unbiased variance).
        if (n < 2) break;
        await nextTick();
        checkAborted(signal, cancelled);
        const picked = Array.from(order.subarray(start, start + n), (i) => dataset.train[i]);
        const batch = await hostBatch(picked, (i) =>
          Rng.fromSeed(deriveSeed(recipe.seed, 3, epoch, start + i)),
        );
        const started = performance.now();
        const x = tf.tensor4d(batch.input, [batch.size, height, width, 3]);
        let step: { loss: number };
        try {
          step = runStep(epoch, b, () =>
            gradientStep(
              params,
              weights,
              (onBatchStats) => trainingLoss(params, x, batch, onBatchStats),
              (grads) => {
                const backbone = new Map([...grads].filter(([name]) => isBackboneParam(name)));
                const head = new Map([...grads].filter(([name]) => !isBackboneParam(name)));
                let norm = 0;
                optimizer.lr = learningRate;
                norm += optimizer.step(params, backbone) ** 2;
                if (head.size > 0 && config.headLrScale > 0) {
                  optimizer.lr = learningRate * config.headLrScale;
                  norm += optimizer.step(params, head) ** 2;
                  optimizer.lr = learningRate;
                }
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
      const confusion = new ConfusionMatrix(classes);
      let loss = 0;
      for (let start = 0; start < evalImages.length; start += recipe.batchSize) {
        await nextTick();
        checkAborted(context.signal, context.cancelled);
        const picked = evalImages.slice(start, start + recipe.batchSize);
        const batch = await hostBatch(picked, null);
        const x = tf.tensor4d(batch.input, [batch.size, height, width, 3]);
        try {
          const { main } = network.forward(params, x);
          try {
            loss += tf.tidy(() => pixelCrossEntropy(main, batch.target).dataSync()[0]) * batch.size;
            const predicted = labelMap(main);
            const pixels = height * width;
            picked.forEach((image, i) => {
              const range = [i * pixels, (i + 1) * pixels] as const;
              confusion.add(
                predicted.subarray(...range),
                batch.target.labels.subarray(...range),
                image.maskFile,
              );
            });
          } finally {
            main.dispose();
          }
        } finally {
          x.dispose();
        }
      }
      const result = confusion.metrics();
      const metrics: Record<string, number> = {
        mIoU: result.mIoU,
        pixel_accuracy: result.pixelAccuracy,
      };
      result.iou.forEach((v, c) => {
        if (v !== null) metrics[`IoU/${dataset.classNames[c]}`] = v;
      });
      return {
        loss: loss / evalImages.length,
        // Undefined metrics (no labelled pixel in the whole split) are left out.
        metrics: Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v))),
        images: evalImages.length,
      };
    },
  };
}
