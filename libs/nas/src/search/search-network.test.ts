import { initBackend, tf } from '@rnas/engine';
import type { Genotype } from '../genotype';
import { initParams } from '../params';
import { Sgd } from '../sgd';
import { trainStep } from '../train-step';
import {
  coverGenotypes,
  isReductionCell,
  reachedWeights,
  searchNetworkParams,
  TrainableSearchNetwork,
} from './search-network';
import { TEACHER, TINY_NETWORK } from './test-fixtures';

/** No node of the normal cells reads state 0, so their preprocess0 is computed but unused. */
const NO_STATE0: Genotype = {
  ...TEACHER,
  normal: [
    ['sep_conv_3x3', 1],
    ['skip_connect', 1],
    ['dil_conv_3x3', 2],
    ['max_pool_3x3', 1],
  ],
};

describe('isReductionCell', () => {
  it('reduces at layers // 3 and 2 * layers // 3', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].filter((i) => isReductionCell(i, 8))).toEqual([2, 5]);
    expect([0, 1, 2].filter((i) => isReductionCell(i, 3))).toEqual([1, 2]);
  });
});

describe('coverGenotypes', () => {
  it('uses every (edge, input, op) of the space at least once', () => {
    const seen = new Set<string>();
    for (const g of coverGenotypes(TINY_NETWORK))
      g.normal.forEach(([op, input], e) => seen.add(`${e}:${input}:${op}`));
    // Node 0 reads states 0-1, node 1 states 0-2: 2 * 2 + 2 * 3 (edge, input) pairs, 4 ops each.
    expect(seen.size).toBe((2 * 2 + 2 * 3) * 4);
  });
});

describe('reachedWeights', () => {
  it('reaches every weight when every cell reads both inputs', () => {
    const reached = reachedWeights(TINY_NETWORK, TEACHER);
    for (const p of searchNetworkParams(TINY_NETWORK, TEACHER)) expect(reached(p.name)).toBe(true);
  });

  it('leaves out the preprocessing of an input no edge reads', () => {
    const reached = reachedWeights(TINY_NETWORK, NO_STATE0);
    // Cell 0 is the only normal cell of 3; its preprocess0 is unused, everything else is reached.
    const unreached = searchNetworkParams(TINY_NETWORK, NO_STATE0)
      .filter((p) => !reached(p.name))
      .map((p) => p.name);
    expect(unreached.length).toBeGreaterThan(0);
    for (const name of unreached) expect(name.startsWith('cells.0.preprocess0.')).toBe(true);
  });

  it('leaves out a whole cell whose output nothing reads', () => {
    // 4 cells (reductions at 1 and 2); cell 3 reads only state 0 (the output of cell 1), so cell 2's
    // output is unused: every weight of cell 2 is unreached.
    const config = { ...TINY_NETWORK, layers: 4 };
    const onlyState0: Genotype = { ...TEACHER, normal: NO_STATE0.normal.map(([op]) => [op, 0]) };
    const reached = reachedWeights(config, onlyState0);
    const cell2 = searchNetworkParams(config, onlyState0).filter((p) => p.name.startsWith('cells.2.'));
    expect(cell2.length).toBeGreaterThan(0);
    for (const p of cell2) expect(reached(p.name)).toBe(false);
    // Cell 1 (reduction) reads s1 with sep_conv_3x3 at node 0: module (0 + 1) * 4 + 2 = 6.
    expect(reached('cells.1._ops.6.op.1.weight')).toBe(true);
    expect(reached('classifier.weight')).toBe(true);
  });

  it('lets trainStep train such a network, leaving the unreached weights as they were', async () => {
    await initBackend();
    const network = new TrainableSearchNetwork(TINY_NETWORK, NO_STATE0);
    const params = initParams(network.allParams, 1);
    const name = 'cells.0.preprocess0.op.1.weight';
    const before = params.get(name)?.dataSync().slice();
    const stem = params.get('stem.0.weight')?.dataSync().slice();
    const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 3e-4, gradClip: 5 });
    const images = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 0], 'int32');
    trainStep(network, params, images, labels, sgd).logits.dispose();
    expect(params.get(name)?.dataSync()).toEqual(before);
    expect(params.get('stem.0.weight')?.dataSync()).not.toEqual(stem);
    // Its batch norm still ran in training mode and updated its running statistics, as in PyTorch.
    expect(Array.from(params.get('cells.0.preprocess0.op.2.running_mean')?.dataSync() ?? [])).not.toEqual([
      0, 0, 0, 0,
    ]);
    sgd.dispose();
    images.dispose();
    labels.dispose();
    for (const t of params.values()) t.dispose();
  });
});
