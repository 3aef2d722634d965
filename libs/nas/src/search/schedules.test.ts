import { cosineLearningRate, dropPathProbability } from './schedules';

describe('cosineLearningRate', () => {
  it('starts at max, is halfway at G/2 and ends just above min', () => {
    expect(cosineLearningRate(0, 50, 0.1, 0.001)).toBeCloseTo(0.1, 12);
    expect(cosineLearningRate(25, 50, 0.1, 0.001)).toBeCloseTo(0.0505, 12);
    // min + (max - min) * (1 + cos(49 pi / 50)) / 2 = 0.001 + 0.099 * 0.000986635...
    expect(cosineLearningRate(49, 50, 0.1, 0.001)).toBeCloseTo(
      0.001 + 0.099 * ((1 + Math.cos((49 * Math.PI) / 50)) / 2),
      15,
    );
    expect(cosineLearningRate(49, 50, 0.1, 0.001)).toBeLessThan(0.0011);
  });

  it('matches hand values for 4 generations', () => {
    // (1 + cos(pi g / 4)) / 2 = 1, 0.853553, 0.5, 0.146447
    const lrs = [0, 1, 2, 3].map((g) => cosineLearningRate(g, 4, 1, 0));
    expect(lrs[0]).toBe(1);
    expect(lrs[1]).toBeCloseTo(0.8535534, 6);
    expect(lrs[2]).toBeCloseTo(0.5, 12);
    expect(lrs[3]).toBeCloseTo(0.1464466, 6);
  });

  it('rejects generations out of range', () => {
    expect(() => cosineLearningRate(50, 50, 0.1, 0.001)).toThrow(/generation.*50/);
    expect(() => cosineLearningRate(-1, 50, 0.1, 0.001)).toThrow(/generation/);
    expect(() => cosineLearningRate(0, 0, 0.1, 0.001)).toThrow(/generations.*0/);
  });
});

describe('dropPathProbability', () => {
  it('is max * g / G', () => {
    expect(dropPathProbability(0, 50, 0.3)).toBe(0);
    expect(dropPathProbability(25, 50, 0.3)).toBeCloseTo(0.15, 12);
    expect(dropPathProbability(49, 50, 0.3)).toBeCloseTo(0.294, 12);
    expect(() => dropPathProbability(1.5, 50, 0.3)).toThrow(/generation.*1\.5/);
  });
});
