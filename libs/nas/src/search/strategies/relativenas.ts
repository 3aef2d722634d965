// Slow-fast learning (RELATIVENAS.md section 6): one population for the whole search; after each
// generation's pairs every student moves towards its teacher.
import { edgeOrigins } from '../diagram';
import { updatePopulation } from '../population';
import type { Strategy } from '../strategy';

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
  // A member that was a student in generation g-1 took edges from itself and its teacher then; a
  // teacher kept all its edges.
  originsOf: (history, g, index) => {
    if (g === 0 || g > history.generations.length) return undefined;
    const prev = history.generations[g - 1];
    const now = history.generations[g];
    if (now === undefined) return undefined;
    const pair = prev.pairs.find((p) => p.student === index || p.teacher === index);
    if (pair === undefined) return undefined;
    const before = prev.candidates[index].genotype;
    const teacher = prev.candidates[pair.teacher].genotype;
    return edgeOrigins(before, teacher, now.candidates[index].genotype);
  },
};
