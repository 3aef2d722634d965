import { initBackend, tf } from '@rnas/engine';
import { evaluateCandidate, pairSeeds, type CandidateJob, type SearchData } from './candidate';
import { STUDENT, TINY_NETWORK, tinyData } from './test-fixtures';
import { WeightSet } from './weight-set';

let data: SearchData;
let ws: WeightSet;

function job(overrides: Partial<CandidateJob> = {}): CandidateJob {
  return {
    network: TINY_NETWORK,
    recipe: { batchSize: 8, momentum: 0.9, weightDecay: 3e-4, gradClip: 5, cutout: 4 },
    genotype: STUDENT,
    params: ws.paramsFor(STUDENT),
    lr: 0.1,
    dropPath: 0.2,
    trainIndices: Int32Array.from([3, 1, 4, 0, 5, 9, 2, 6, 8, 7, 11, 10]),
    valIndices: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    augmentSeed: 11,
    valAugmentSeed: 13,
    dropPathSeed: 12,
    ...overrides,
  };
}

beforeAll(async () => {
  await initBackend();
  data = await tinyData();
  ws = WeightSet.initialise(TINY_NETWORK, 1);
});

describe('evaluateCandidate', () => {
  it('trains one pass, validates, returns every tensor of the network and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const j = job();
    const start = ws.paramsFor(STUDENT);
    const r = evaluateCandidate(j, data);
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(r.params).sort()).toEqual(Object.keys(start).sort());
    expect(r.trainImages).toBe(12);
    expect(r.valImages).toBe(10);
    expect(r.valLoss).toBeGreaterThan(0);
    expect(Number.isFinite(r.valLoss)).toBe(true);
    expect(r.valAccuracy * 10).toBeCloseTo(Math.round(r.valAccuracy * 10), 10);
    expect(r.trainAccuracy * 12).toBeCloseTo(Math.round(r.trainAccuracy * 12), 10);
    // Trained weights moved; running statistics moved away from their initial 0 / 1.
    expect(r.params['stem.0.weight'].data).not.toEqual(start['stem.0.weight'].data);
    expect(r.params['stem.1.running_mean'].data).not.toEqual(start['stem.1.running_mean'].data);
    for (const [name, t] of Object.entries(r.params)) expect(t.shape).toEqual(start[name].shape);
  });

  it('is a function of the job: the same job gives the same numbers, another drop-path seed others', () => {
    const a = evaluateCandidate(job(), data);
    const b = evaluateCandidate(job(), data);
    expect(b.valLoss).toBe(a.valLoss);
    expect(b.params['classifier.weight'].data).toEqual(a.params['classifier.weight'].data);
    const c = evaluateCandidate(job({ dropPathSeed: 99 }), data);
    expect(c.params['classifier.weight'].data).not.toEqual(a.params['classifier.weight'].data);
    const d = evaluateCandidate(job({ augmentSeed: 99 }), data);
    expect(d.params['classifier.weight'].data).not.toEqual(a.params['classifier.weight'].data);
  });

  it('refuses empty splits and tensors that do not fit the network', () => {
    expect(() => evaluateCandidate(job({ trainIndices: new Int32Array(0) }), data)).toThrow(
      /no training images/,
    );
    expect(() => evaluateCandidate(job({ valIndices: new Int32Array(0) }), data)).toThrow(
      /no validation images/,
    );
    expect(() => evaluateCandidate(job({ trainIndices: Int32Array.from([999]) }), data)).toThrow(/999/);
    const params = ws.paramsFor(STUDENT);
    delete params['stem.0.weight'];
    const before = tf.memory().numTensors;
    expect(() => evaluateCandidate(job({ params }), data)).toThrow(/missing tensor 'stem.0.weight'/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('validation images', () => {
  it('carry the training augmentation by default, drawn from the member’s seed (the reference)', () => {
    const a = evaluateCandidate(job({ validateOnly: true }), data);
    const same = evaluateCandidate(job({ validateOnly: true }), data);
    const other = evaluateCandidate(job({ validateOnly: true, valAugmentSeed: 14 }), data);
    const plain = evaluateCandidate(job({ validateOnly: true, valAugmentSeed: null }), data);
    expect(same.valLoss).toBe(a.valLoss);
    // Another draw of crop, flip and cutout gives other images, hence another loss; plain images another still.
    expect(other.valLoss).not.toBe(a.valLoss);
    expect(plain.valLoss).not.toBe(a.valLoss);
    expect(evaluateCandidate(job({ validateOnly: true, valAugmentSeed: null }), data).valLoss).toBe(
      plain.valLoss,
    );
  });

  it('validate-only jobs train nothing and return no tensors', () => {
    const before = tf.memory().numTensors;
    const r = evaluateCandidate(job({ validateOnly: true, trainIndices: new Int32Array(0) }), data);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.params).toEqual({});
    expect(r.trainImages).toBe(0);
    expect(Number.isNaN(r.trainLoss)).toBe(true);
    expect(r.valImages).toBe(10);
    // A measurement of the weights as loaded from the weight set.
    expect(Number.isFinite(r.valLoss)).toBe(true);
  });
});

describe('pairSeeds', () => {
  it('gives each member its own images, order and augmentations by default (the reference)', () => {
    const s = pairSeeds(123);
    for (const k of ['order', 'augment', 'valAugment'] as const) expect(s[k][0]).not.toBe(s[k][1]);
    const all = [...s.order, ...s.augment, ...s.valAugment, ...s.dropPath];
    expect(new Set(all).size).toBe(8);
    expect(pairSeeds(123)).toEqual(s);
    expect(pairSeeds(124).order[0]).not.toBe(s.order[0]);
  });

  it('shares them between the members with paired data (common random numbers), not drop path', () => {
    const s = pairSeeds(123, true);
    for (const k of ['order', 'augment', 'valAugment'] as const) expect(s[k][0]).toBe(s[k][1]);
    expect(s.dropPath[0]).not.toBe(s.dropPath[1]);
    expect(s.order[0]).toBe(pairSeeds(123).order[0]);
  });
});
