// The population rules of slow-fast learning (RELATIVENAS.md section 6): random pairing, the
// teacher/student decision, the pseudo-velocity update of students, and the diversity measure.
// Pure functions of their arguments and the generator.
import type { Rng } from '@rnas/data';

/** What these rules draw from: the search's one generator (tests may script it). */
export type RandomSource = Pick<Rng, 'nextFloat' | 'permutation'>;

/** Per-coordinate bounds of the continuous encoding. */
export interface Bounds {
  lower: readonly number[];
  upper: readonly number[];
}

/** Indices of the two population members compared together. */
export type Pair = [number, number];

/** Who taught whom in one pair. */
export interface Roles {
  /** Teaches the population (the student moves towards it). */
  teacher: number;
  student: number;
  /** Whose trained tensors the weight set takes as the teacher's (differs from `teacher` on a tie). */
  weightSetTeacher: number;
  /** Both members diverged: nobody moves and the weight set is not written. */
  bothDiverged?: boolean;
}

/** A random permutation of the population cut into consecutive pairs. */
export function randomPairs(size: number, rng: RandomSource): Pair[] {
  if (!Number.isInteger(size) || size < 2 || size % 2 !== 0) {
    throw new Error(`population: expected an even integer >= 2, got ${size}`);
  }
  const perm = rng.permutation(size);
  const pairs: Pair[] = [];
  for (let i = 0; i < size; i += 2) pairs.push([perm[i], perm[i + 1]]);
  return pairs;
}

/**
 * The member with the lower validation loss teaches, as in the reference (train_search.py): the
 * population update makes `a` the student only when loss_a > loss_b, so a tie leaves `a` the
 * teacher; the weight-set update takes `a` as the teacher only when loss_a < loss_b, so on a tie
 * `b`'s tensors are written as the teacher's. One departure, to keep a diverged candidate from
 * poisoning the weight set: a loss that is NaN always loses (the reference compares NaN as false
 * both ways, which would make a NaN `a` teach the population and a NaN `b` write the weight set).
 * Likewise a member flagged `diverged` (divergence.ts: a loss that is not finite or above
 * DIVERGED_LOSS, the training's own rule) loses to one that is not; when both diverged the pair
 * is `bothDiverged` and the population member is kept as it is.
 */
export function decideRoles(
  pair: Pair,
  losses: readonly [number, number],
  diverged: readonly [boolean, boolean] = [false, false],
): Roles {
  if (diverged[0] && diverged[1]) {
    return { teacher: pair[0], student: pair[1], weightSetTeacher: pair[1], bothDiverged: true };
  }
  const [a, b] = losses.map((l, side) => (Number.isNaN(l) || diverged[side] ? Infinity : l));
  if (a < b) return { teacher: pair[0], student: pair[1], weightSetTeacher: pair[0] };
  if (a > b) return { teacher: pair[1], student: pair[0], weightSetTeacher: pair[1] };
  return { teacher: pair[0], student: pair[1], weightSetTeacher: pair[1] };
}

/**
 * One student's move: `V = r1 * V + r2 * (P_teacher - P)`, `P = P + V`, then P clipped to the
 * bounds. The velocity itself is not clipped (as in the reference).
 */
export function moveStudent(
  position: readonly number[],
  velocity: readonly number[],
  teacher: readonly number[],
  r1: readonly number[],
  r2: readonly number[],
  bounds: Bounds,
): { position: number[]; velocity: number[] } {
  const n = position.length;
  for (const [name, v] of [
    ['velocity', velocity],
    ['teacher', teacher],
    ['r1', r1],
    ['r2', r2],
    ['bounds.lower', bounds.lower],
    ['bounds.upper', bounds.upper],
  ] as const) {
    if (v.length !== n) throw new Error(`moveStudent: ${name} has length ${v.length}, expected ${n}`);
  }
  const newVelocity = position.map((p, i) => r1[i] * velocity[i] + r2[i] * (teacher[i] - p));
  const newPosition = position.map((p, i) =>
    Math.min(bounds.upper[i], Math.max(bounds.lower[i], p + newVelocity[i])),
  );
  return { position: newPosition, velocity: newVelocity };
}

/**
 * Moves every student towards its teacher, in the order of `roles`; for each student r1 is drawn
 * (one number per coordinate), then r2. Teachers keep their position and velocity. Returns new
 * arrays; the arguments are not modified.
 */
export function updatePopulation(
  population: readonly (readonly number[])[],
  velocities: readonly (readonly number[])[],
  roles: readonly Roles[],
  bounds: Bounds,
  rng: RandomSource,
): { population: number[][]; velocities: number[][] } {
  const nextP = population.map((p) => [...p]);
  const nextV = velocities.map((v) => [...v]);
  const moved = new Set<number>();
  for (const { teacher, student, bothDiverged } of roles) {
    if (bothDiverged) continue;
    if (moved.has(student)) throw new Error(`updatePopulation: member ${student} is a student twice`);
    moved.add(student);
    const dim = population[student].length;
    const r1 = Array.from({ length: dim }, () => rng.nextFloat());
    const r2 = Array.from({ length: dim }, () => rng.nextFloat());
    const step = moveStudent(population[student], velocities[student], population[teacher], r1, r2, bounds);
    nextP[student] = step.position;
    nextV[student] = step.velocity;
  }
  return { population: nextP, velocities: nextV };
}

/** Mean Euclidean distance of the members to the population mean. */
export function diversity(population: readonly (readonly number[])[]): number {
  if (population.length === 0) return 0;
  const dim = population[0].length;
  const mean = new Array<number>(dim).fill(0);
  for (const p of population) for (let i = 0; i < dim; i++) mean[i] += p[i] / population.length;
  let total = 0;
  for (const p of population) {
    let sq = 0;
    for (let i = 0; i < dim; i++) sq += (p[i] - mean[i]) ** 2;
    total += Math.sqrt(sq);
  }
  return total / population.length;
}
