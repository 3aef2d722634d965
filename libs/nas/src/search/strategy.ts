// The search strategies behind one interface: what a strategy decides is which population a
// generation evaluates, how the population moves after the pairs, which genotypes the final
// choice is made among, and what lineage a cell diagram shows. Everything else (pairing, the
// weight-shared evaluation, the weight-set update, checkpoints, the final re-evaluation under the
// final weight set) is the search loop's, the same for every strategy, so that their results
// compare at equal budget. A third strategy is one more file in strategies/ and one more entry in
// strategies/index.ts's registry.
import type { Genotype } from '../genotype';
import type { EdgeOrigins } from './diagram';
import type { SearchHistory } from './history';
import type { Bounds, RandomSource, Roles } from './population';
import type { SearchConfig } from './search-config';

/** A genotype the final choice is made among, and where it was met. */
export interface FinalCandidate {
  /** The generation whose population held it; `generations` for the population after the last move. */
  generation: number;
  /** Its index in that population. */
  index: number;
  encoding: number[];
}

export interface Strategy {
  /** Its name in a search configuration (the registry's key). */
  readonly name: string;
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
  /**
   * Where the edges of member `index` of generation `g` came from, for its cell diagram;
   * undefined when the strategy has no lineage to show.
   */
  originsOf(history: SearchHistory, g: number, index: number): EdgeOrigins | undefined;
}

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
