// The training library's values as the protobuf messages of training.proto (the network spec's
// mapping is @rnas/nas's networkSpecToProto).
import { LearningRateSchedule, type EpochReport as EpochReportProto, type TrainingRecipe } from '@rnas/proto';
import type { EpochReport, Recipe } from '@rnas/train';

const SCHEDULE_PROTO = {
  cosine: LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE,
  constant: LearningRateSchedule.LEARNING_RATE_SCHEDULE_CONSTANT,
  poly: LearningRateSchedule.LEARNING_RATE_SCHEDULE_POLY,
} as const;

export function recipeToProto(recipe: Recipe): TrainingRecipe {
  return {
    epochs: recipe.epochs,
    batchSize: recipe.batchSize,
    learningRate: recipe.learningRate,
    learningRateSchedule: SCHEDULE_PROTO[recipe.learningRateSchedule],
    learningRateMin: recipe.learningRateMin,
    momentum: recipe.momentum,
    weightDecay: recipe.weightDecay,
    auxiliaryWeight: recipe.auxiliaryWeight,
    cutout: recipe.cutout,
    dropPath: recipe.dropPath,
    gradClip: recipe.gradClip,
    labelSmoothing: recipe.labelSmoothing,
    cropPadding: recipe.cropPadding,
    horizontalFlip: recipe.horizontalFlip,
    trainImages: recipe.trainImages,
    evalImages: recipe.evalImages,
    seed: recipe.seed,
  };
}

/** An epoch without test images has no test loss or accuracy: NaN says so. */
export function epochReportToProto(report: EpochReport): EpochReportProto {
  return {
    epoch: report.epoch,
    epochs: report.epochs,
    learningRate: report.learningRate,
    dropPath: report.dropPath,
    trainLoss: report.trainLoss,
    trainAccuracy: report.trainAccuracy,
    evalLoss: report.evalLoss ?? Number.NaN,
    evalAccuracy: report.evalAccuracy ?? Number.NaN,
    imagesPerSecond: report.imagesPerSecond,
    durationMs: Math.round(report.durationMs),
    etaMs: Math.round(report.etaMs),
    // Reports of checkpoints written before tasks carry no metrics map: their accuracy is one.
    evalMetrics: {
      ...(report.evalMetrics ?? (report.evalAccuracy === null ? {} : { accuracy: report.evalAccuracy })),
    },
  };
}
