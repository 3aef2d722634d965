// The random-search baseline at equal budget: a fresh random population every generation,
// evaluated and compared exactly as RelativeNAS's; its final choice is among every candidate it
// evaluated (as a random search picks the best of all its samples).
import { randomVector } from '../../encoding';
import type { Strategy } from '../strategy';

export const RANDOM: Strategy = {
  name: 'random',
  populationFor: (g, population, config, rng) =>
    g === 0
      ? population
      : Array.from({ length: config.population }, () =>
          randomVector(config.steps, () => rng.nextFloat(), config.primitives),
        ),
  afterPairs: (population, velocities) => ({ population, velocities }),
  finalCandidates: (history) =>
    history.generations.flatMap((g) =>
      g.candidates.map((c) => ({ generation: g.generation, index: c.index, encoding: [...c.encoding] })),
    ),
  // Every generation is drawn afresh: a member has no earlier self to come from.
  originsOf: () => undefined,
};
