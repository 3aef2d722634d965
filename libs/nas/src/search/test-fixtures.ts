// Shared by the search tests: a tiny search space and synthetic data small enough that a whole
// search runs in seconds. Not part of the package's API (the barrel does not export it).
import { openDataset } from '@rnas/data';
import type { Genotype } from '../genotype';
import type { SearchData } from './candidate';
import type { SearchNetworkConfig } from './search-network';

export const TINY_NETWORK: SearchNetworkConfig = {
  layers: 3,
  channels: 4,
  classes: 3,
  inChannels: 1,
  steps: 2,
  primitives: ['max_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'dil_conv_3x3'],
};

/** Two genotypes of TINY_NETWORK's space that share some ops and differ in others. */
export const TEACHER: Genotype = {
  normal: [
    ['sep_conv_3x3', 0],
    ['skip_connect', 1],
    ['dil_conv_3x3', 2],
    ['max_pool_3x3', 0],
  ],
  normalConcat: [2, 3],
  reduce: [
    ['sep_conv_3x3', 1],
    ['sep_conv_3x3', 1],
    ['max_pool_3x3', 2],
    ['dil_conv_3x3', 0],
  ],
  reduceConcat: [2, 3],
};

export const STUDENT: Genotype = {
  normal: [
    ['sep_conv_3x3', 0],
    ['sep_conv_3x3', 0],
    ['sep_conv_3x3', 2],
    ['dil_conv_3x3', 1],
  ],
  normalConcat: [2, 3],
  reduce: [
    ['dil_conv_3x3', 1],
    ['sep_conv_3x3', 1],
    ['max_pool_3x3', 2],
    ['sep_conv_3x3', 0],
  ],
  reduceConcat: [2, 3],
};

/** 8x8 grey synthetic shapes, 3 classes, split in two halves. */
export async function tinyData(train = 48): Promise<SearchData> {
  const ds = await openDataset(`synthetic:shapes?classes=3&size=8&channels=1&train=${train}&test=8&seed=5`);
  const half = Math.floor(ds.train.size / 2);
  const pick = (from: number, to: number): SearchData['train'] => ({
    ...ds.train,
    size: to - from,
    images: ds.train.images.slice(from * 64, to * 64),
    labels: ds.train.labels.slice(from, to),
  });
  return { train: pick(0, half), val: pick(half, ds.train.size) };
}
