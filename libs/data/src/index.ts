export {
  openDataset,
  datasetFromImages,
  dataRootsFromEnv,
  type Dataset,
  type OpenDatasetOptions,
} from './dataset';
export {
  parseDatasetUri,
  datasetPaths,
  isDetectionScheme,
  isSegmentationScheme,
  isKeypointScheme,
  SEGMENTATION_SCHEMES,
  KEYPOINT_SCHEMES,
  schemeTask,
  type DatasetTask,
  DATASET_SCHEMES,
  DETECTION_SCHEMES,
  type DatasetScheme,
  type DetectionScheme,
  type DatasetUri,
  type DatasetPath,
} from './uri';
export {
  splitTrain,
  subset,
  imageBytes,
  takeIndices,
  channelStats,
  type Split,
  type LabelledImages,
  type ImageShape,
  type SplitOptions,
  type SubsetOptions,
} from './split';
export { hostBatches, batchCount, type HostBatch, type BatchOptions } from './host-batches';
export { batches, toTensors, type Batch } from './batches';
export { fillImages, normalizationTable, type AugmentOptions } from './augment';
export { Rng, deriveSeed, type RngState } from './rng';
export { DataError, DataFormatError, type DataErrorCode } from './errors';
export { findDirectoryUnderRoots, type DirectoryLookup } from './sandbox';
export { resolveDirectoryUnderRoots, resolveFileUnderRoots, PathNotAllowedError } from './roots';
export { checkDatasetUri, DatasetUriError, MAX_DATASET_URI_CHARS } from './dataset-uri-check';
export { clientDataMessage, DATA_ROOT, SERVER_PATH } from './client-message';
export {
  decodeIdx,
  encodeIdx,
  writeIdxDataset,
  FASHION_MNIST_CLASSES,
  MNIST_CLASSES,
  type IdxArray,
  type WriteIdxOptions,
} from './idx';
export { decodeCifar, encodeCifar, writeCifar10, writeCifar100 } from './cifar';
export {
  writeImageFolder,
  decodeImageFile,
  IMAGE_EXTENSIONS,
  type ImageFormat,
  type WriteImageFolderOptions,
} from './image-folder';
export {
  generateShapes,
  writeSyntheticDataset,
  temporaryDataRoot,
  writeGzipBombDataset,
  writeRefusedDatasets,
  type TemporaryDataRoot,
  SHAPES,
  type ShapesOptions,
  type SyntheticData,
  type SyntheticFormat,
  type WriteSyntheticOptions,
} from './synthetic';
export * from './detection';
export {
  encodeLabelPng,
  vocPalette,
  labelsFromColours,
  IGNORE_COLOUR,
  type Colour,
} from './segmentation/png';
export * from './segmentation';
export * from './keypoints';
