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

describe('pairSeeds', () => {
  it('derives distinct streams from one pair seed', () => {
    const s = pairSeeds(123);
    const all = [s.order, s.augment, ...s.dropPath];
    expect(new Set(all).size).toBe(4);
    expect(pairSeeds(123)).toEqual(s);
    expect(pairSeeds(124).order).not.toBe(s.order);
  });
});
