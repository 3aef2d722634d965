import { PRIMITIVES } from '../genotype';
import { DEFAULT_SEARCH_CONFIG, resolveSearchConfig } from './search-config';

describe('resolveSearchConfig', () => {
  it("has the paper's defaults", () => {
    expect(resolveSearchConfig()).toEqual({
      strategy: 'relativenas',
      population: 20,
      generations: 50,
      layers: 8,
      channels: 16,
      steps: 4,
      batchSize: 256,
      trainImages: 0,
      valImages: 0,
      lrMax: 0.1,
      lrMin: 0.001,
      momentum: 0.9,
      weightDecay: 3e-4,
      gradClip: 5,
      dropPath: 0.3,
      cutout: 16,
      trainPortion: 0.5,
      primitives: [...PRIMITIVES],
      seed: 0,
      pairsPerWave: 1,
      valAugment: true,
      pairedData: false,
    });
  });

  it('takes overrides and ignores undefined ones', () => {
    const c = resolveSearchConfig({
      population: 4,
      strategy: 'random',
      seed: undefined,
      primitives: ['skip_connect', 'none'],
    });
    expect(c.population).toBe(4);
    expect(c.strategy).toBe('random');
    expect(c.seed).toBe(DEFAULT_SEARCH_CONFIG.seed);
    expect(c.primitives).toEqual(['skip_connect', 'none']);
  });

  it.each([
    [{ population: 5 }, /population must be even, got 5/],
    [{ population: 0 }, /population must be an integer in \[2, 100000\], got 0/],
    [{ population: 1e9 }, /population/],
    [{ generations: 0 }, /generations must be an integer in \[1, 1000000\], got 0/],
    [{ generations: 2.5 }, /generations.*got 2.5/],
    [{ layers: '8' }, /layers must be an integer.*got "8"/],
    [{ channels: -1 }, /channels/],
    [{ batchSize: Number.NaN }, /batchSize.*got NaN/],
    [{ trainImages: -1 }, /trainImages/],
    [{ lrMin: 0.5 }, /lrMin must be at most lrMax \(0.1\), got 0.5/],
    [{ lrMax: Infinity }, /lrMax.*got Infinity/],
    [{ momentum: 1 }, /momentum must be a number in \[0, 1\), got 1/],
    [{ dropPath: 1 }, /dropPath/],
    [{ trainPortion: 0 }, /trainPortion/],
    [{ trainPortion: 1 }, /trainPortion/],
    [{ strategy: 'evolution' }, /strategy must be one of relativenas, random, got "evolution"/],
    [{ primitives: [] }, /primitives must be a non-empty list/],
    [{ primitives: ['sep_conv_3x3', 'conv_9x9'] }, /primitives\[1\] must be a known op name, got "conv_9x9"/],
    [{ primitives: ['skip_connect', 'skip_connect'] }, /primitives\[1\] must be listed once/],
    [{ primitives: 'sep_conv_3x3' }, /primitives must be a non-empty list of op names, got "sep_conv_3x3"/],
    [{ seed: -1 }, /seed must be a non-negative safe integer, got -1/],
    [{ seed: 2 ** 60 }, /seed/],
    [{ pairsPerWave: 11 }, /pairsPerWave must be an integer in \[1, 10\], got 11/],
    [{ valAugment: 'yes' }, /valAugment must be true or false, got "yes"/],
    [{ pairedData: 1 }, /pairedData must be true or false, got 1/],
    [{ populaton: 4 }, /populaton must be a known field \(unknown field\), got 4/],
  ])('rejects %j with a message naming the field and value', (overrides, message) => {
    expect(() => resolveSearchConfig(overrides as never)).toThrow(message);
  });

  it('rejects a non-object', () => {
    expect(() => resolveSearchConfig(null as never)).toThrow(/\(config\) must be an object, got null/);
  });
});
