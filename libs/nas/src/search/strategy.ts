// The search strategies behind one interface: what a strategy decides is which population a
// generation evaluates, how the population moves after the pairs, and which genotypes the final
// choice is made among. Everything else (pairing, the weight-shared evaluation, the weight-set
// update, checkpoints, the final re-evaluation under the final weight set) is the search loop's,
// the same for every strategy, so that their results compare at equal budget. A third strategy
// is one more object here.
import { randomVector } from '../encoding';
import type { Genotype } from '../genotype';
import type { SearchHistory } from './history';
import { updatePopulation, type Bounds, type RandomSource, type Roles } from './population';
import type { SearchConfig, SearchStrategy } from './search-config';

/** A genotype the final choice is made among, and where it was met. */
export interface FinalCandidate {
  /** The generation whose population held it; `generations` for the population after the last move. */
  generation: number;
  /** Its index in that population. */
  index: number;
  encoding: number[];
}

export interface Strategy {
  readonly name: SearchStrategy;
  /** The population generation `g` evaluates, given the one the previous generation left. */
  populationFor(g: number, population: number[][], config: SearchConfig, rng: RandomSource): number[][];
  /** After all pairs of a generation: the population and velocities the next one starts from. */
  afterPairs(
    population: number[][],
    velocities: number[][],
    roles: readonly Roles[],
    bounds: Bounds,
    rng: RandomSource,
  ): { population: number[][]; velocities: number[][] };
  /** The genotypes the final choice is made among, once every generation has run. */
  finalCandidates(history: SearchHistory, population: readonly number[][]): FinalCandidate[];
}

/** Slow-fast learning (RELATIVENAS.md section 6): students move towards their teachers. */
export const RELATIVENAS: Strategy = {
  name: 'relativenas',
  populationFor: (_g, population) => population,
  afterPairs: (population, velocities, roles, bounds, rng) =>
    updatePopulation(population, velocities, roles, bounds, rng),
  // The population as the last generation left it: the one the search converged to.
  finalCandidates: (history, population) =>
    population.map((encoding, index) => ({
      generation: history.generations.length,
      index,
      encoding: [...encoding],
    })),
};

/**
 * The random-search baseline at equal budget: a fresh random population every generation,
 * evaluated and compared exactly as RelativeNAS's; its final choice is among every candidate it
 * evaluated (as a random search picks the best of all its samples).
 */
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
};

export const STRATEGIES: Readonly<Record<SearchStrategy, Strategy>> = {
  relativenas: RELATIVENAS,
  random: RANDOM,
};

/** Genotypes met more than once are measured once: the first place each was met is kept. */
export function distinctByGenotype<T extends { genotype: Genotype }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = JSON.stringify(item.genotype);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
