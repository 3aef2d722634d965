import {
  decideRoles,
  diversity,
  moveStudent,
  randomPairs,
  updatePopulation,
  type Bounds,
  type RandomSource,
} from './population';
import { Rng } from '@rnas/data';
import { candidateDiverged, DIVERGED_LOSS, lossDiverged } from './divergence';

/** A random source that replays scripted numbers, so expectations can be worked out by hand. */
function scripted(floats: number[], perm: number[] = []): RandomSource {
  let i = 0;
  return {
    nextFloat: () => {
      if (i >= floats.length) throw new Error('script exhausted');
      return floats[i++];
    },
    permutation: () => Int32Array.from(perm),
  };
}

const bounds: Bounds = { lower: [0, 0], upper: [2, 3] };

describe('randomPairs', () => {
  it('cuts the permutation into consecutive pairs', () => {
    expect(randomPairs(6, scripted([], [4, 0, 5, 2, 1, 3]))).toEqual([
      [4, 0],
      [5, 2],
      [1, 3],
    ]);
  });

  it('pairs by a Fisher-Yates permutation of the search generator (hand-computed)', () => {
    // xoshiro128** from [1, 2, 3, 4] outputs 11520, 0, 5927040: swaps (3, 0), (2, 0), (1, 0)
    // turn [0, 1, 2, 3] into [3, 1, 2, 0], [2, 1, 3, 0], [1, 2, 3, 0].
    const rng = Rng.fromState({ algorithm: 'xoshiro128**', state: [1, 2, 3, 4] });
    expect(randomPairs(4, rng)).toEqual([
      [1, 2],
      [3, 0],
    ]);
  });

  it('covers every member exactly once with a real generator', () => {
    const pairs = randomPairs(20, Rng.fromSeed(9));
    expect(pairs).toHaveLength(10);
    expect(pairs.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('rejects odd populations', () => {
    expect(() => randomPairs(5, Rng.fromSeed(1))).toThrow(/even.*5/);
  });
});

describe('decideRoles', () => {
  it('makes the lower validation loss the teacher, of the population and of the weight set', () => {
    expect(decideRoles([3, 7], [0.9, 1.2])).toEqual({ teacher: 3, student: 7, weightSetTeacher: 3 });
    expect(decideRoles([3, 7], [1.3, 1.2])).toEqual({ teacher: 7, student: 3, weightSetTeacher: 7 });
  });

  it('on a tie, as the reference: a teaches the population, b writes the weight set', () => {
    // train_search.py: mask = loss_a > loss_b (a is the student only then); the weight set takes
    // a as the teacher only when loss_a < loss_b.
    expect(decideRoles([3, 7], [1, 1])).toEqual({ teacher: 3, student: 7, weightSetTeacher: 7 });
  });

  it('never lets NaN win (our guard: a diverged member must not write the weight set)', () => {
    expect(decideRoles([3, 7], [Number.NaN, 5])).toEqual({ teacher: 7, student: 3, weightSetTeacher: 7 });
    expect(decideRoles([3, 7], [5, Number.NaN])).toEqual({ teacher: 3, student: 7, weightSetTeacher: 3 });
  });

  it('lets a diverged member lose whatever its loss, and keeps both when both diverged', () => {
    // The training's rule (divergence.ts): not finite, or above DIVERGED_LOSS.
    expect([Number.NaN, Infinity, -Infinity, 1.7e24, DIVERGED_LOSS * 2].map(lossDiverged)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect([0, 2.3, DIVERGED_LOSS].map(lossDiverged)).toEqual([false, false, false]);
    expect(candidateDiverged({ trainLoss: 1.7e24, valLoss: 0.1 })).toBe(true);
    expect(candidateDiverged({ trainLoss: 2.3, valLoss: 2.2 })).toBe(false);
    // a's validation loss is lower, but its training diverged: b wins and writes the weight set.
    expect(decideRoles([3, 7], [0.1, 5], [true, false])).toEqual({
      teacher: 7,
      student: 3,
      weightSetTeacher: 7,
    });
    expect(decideRoles([3, 7], [5, 0.1], [false, true])).toEqual({
      teacher: 3,
      student: 7,
      weightSetTeacher: 3,
    });
    const both = decideRoles([3, 7], [1.7e24, 2e24], [true, true]);
    expect(both.bothDiverged).toBe(true);
    // Nobody moves after a pair that both diverged.
    const population = [
      [0.1, 0.2],
      [0.9, 0.8],
    ];
    const velocities = [
      [0, 0],
      [0, 0],
    ];
    const moved = updatePopulation(
      population,
      velocities,
      [decideRoles([0, 1], [NaN, NaN], [true, true])],
      bounds,
      scripted([]),
    );
    expect(moved).toEqual({ population, velocities });
  });
});

describe('moveStudent', () => {
  it('applies V = r1 V + r2 (Pt - Ps), P += V, then clips P (hand-computed)', () => {
    // V = [0.5*0.5 + 0.5*(3-1), 0.25*(-1) + 1*(0-2)] = [1.25, -2.25]; P = [2.25, -0.25] -> clip [2, 0].
    const out = moveStudent([1, 2], [0.5, -1], [3, 0], [0.5, 0.25], [0.5, 1], bounds);
    expect(out.velocity).toEqual([1.25, -2.25]);
    expect(out.position).toEqual([2, 0]);
  });

  it('does not clip inside the bounds', () => {
    // V = [0 + 0.5*(2-1), 0 + 0.5*(1-2)] = [0.5, -0.5]; P = [1.5, 1.5].
    const out = moveStudent([1, 2], [0, 0], [2, 1], [0.3, 0.3], [0.5, 0.5], bounds);
    expect(out.velocity).toEqual([0.5, -0.5]);
    expect(out.position).toEqual([1.5, 1.5]);
  });

  it('rejects mismatched lengths naming the argument', () => {
    expect(() => moveStudent([1, 2], [0], [2, 1], [0, 0], [0, 0], bounds)).toThrow(/velocity has length 1/);
  });
});

describe('updatePopulation', () => {
  it('moves students only, drawing r1 then r2 per student in role order', () => {
    const P = [
      [1, 1],
      [2, 2],
      [0, 3],
      [1, 0],
    ];
    const V = [
      [0, 0],
      [0, 0],
      [1, 1],
      [0, 0],
    ];
    // Student 2 (teacher 1): r1 = [0.5, 0.5], r2 = [1, 0.5]:
    //   V = [0.5 + 1*(2-0), 0.5 + 0.5*(2-3)] = [2.5, 0]; P = [2.5 -> 2, 3].
    // Student 0 (teacher 3): r1 = [0, 0], r2 = [0.5, 0.5]: V = [0, -0.5]; P = [1, 0.5].
    const rng = scripted([0.5, 0.5, 1, 0.5, 0, 0, 0.5, 0.5]);
    const out = updatePopulation(
      P,
      V,
      [
        { teacher: 1, student: 2, weightSetTeacher: 1 },
        { teacher: 3, student: 0, weightSetTeacher: 3 },
      ],
      bounds,
      rng,
    );
    expect(out.population).toEqual([
      [1, 0.5],
      [2, 2],
      [2, 3],
      [1, 0],
    ]);
    expect(out.velocities).toEqual([
      [0, -0.5],
      [0, 0],
      [2.5, 0],
      [0, 0],
    ]);
    expect(P[2]).toEqual([0, 3]);
  });

  it('rejects a member that is a student twice', () => {
    expect(() =>
      updatePopulation(
        [
          [0, 0],
          [1, 1],
          [2, 2],
        ],
        [
          [0, 0],
          [0, 0],
          [0, 0],
        ],
        [
          { teacher: 1, student: 0, weightSetTeacher: 1 },
          { teacher: 2, student: 0, weightSetTeacher: 2 },
        ],
        bounds,
        scripted(new Array(8).fill(0.5)),
      ),
    ).toThrow(/member 0 is a student twice/);
  });
});

describe('diversity', () => {
  it('is the mean Euclidean distance to the population mean', () => {
    // Mean (1, 1); distances sqrt(2), sqrt(2), 1, 1 -> (2 sqrt(2) + 2) / 4.
    expect(
      diversity([
        [0, 0],
        [2, 2],
        [1, 0],
        [1, 2],
      ]),
    ).toBeCloseTo((2 * Math.SQRT2 + 2) / 4, 14);
    expect(
      diversity([
        [1, 2],
        [1, 2],
      ]),
    ).toBe(0);
    expect(diversity([])).toBe(0);
  });
});
