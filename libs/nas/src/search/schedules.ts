// Per-generation schedules of the search (RELATIVENAS.md section 6). Generations count from 0.

function checkGeneration(generation: number, generations: number): void {
  if (!Number.isInteger(generations) || generations < 1) {
    throw new Error(`generations: expected a positive integer, got ${generations}`);
  }
  if (!Number.isInteger(generation) || generation < 0 || generation >= generations) {
    throw new Error(`generation: expected an integer in [0, ${generations - 1}], got ${generation}`);
  }
}

/**
 * Cosine annealing from `max` at generation 0 towards `min`, stepped once per generation as
 * PyTorch's CosineAnnealingLR(T_max = generations, eta_min = min) is in the reference search:
 * `min + (max - min) * (1 + cos(pi * g / G)) / 2`. The last generation is just above `min`.
 */
export function cosineLearningRate(
  generation: number,
  generations: number,
  max: number,
  min: number,
): number {
  checkGeneration(generation, generations);
  return min + ((max - min) * (1 + Math.cos((Math.PI * generation) / generations))) / 2;
}

/** Drop-path probability `max * g / G`: 0 in generation 0, growing linearly. */
export function dropPathProbability(generation: number, generations: number, max: number): number {
  checkGeneration(generation, generations);
  return (max * generation) / generations;
}
