import { resolveRecipe } from './recipe';
import { epochSchedule } from './schedule';

describe('epochSchedule', () => {
  const recipe = resolveRecipe({ epochs: 4, learningRate: 0.1, dropPath: 0.2 });

  it('anneals the learning rate by cosine from the first epoch to learningRateMin', () => {
    const lrs = [0, 1, 2, 3].map((e) => epochSchedule(recipe, e).learningRate);
    expect(lrs[0]).toBe(0.1);
    expect(lrs[2]).toBeCloseTo(0.05, 12);
    expect(lrs[1]).toBeCloseTo((0.1 * (1 + Math.cos(Math.PI / 4))) / 2, 12);
    const withMin = resolveRecipe({ epochs: 4, learningRate: 0.1, learningRateMin: 0.02 });
    expect(epochSchedule(withMin, 2).learningRate).toBeCloseTo(0.06, 12);
  });

  it("decays with BiSeNet's poly schedule, lr (1 - e/E)^0.9 per epoch", () => {
    const poly = resolveRecipe({ epochs: 4, learningRate: 0.01, learningRateSchedule: 'poly' });
    const lrs = [0, 1, 2, 3].map((e) => epochSchedule(poly, e).learningRate);
    expect(lrs[0]).toBe(0.01);
    expect(lrs[2]).toBeCloseTo(0.01 * 0.5 ** 0.9, 12);
    expect(lrs[3]).toBeCloseTo(0.01 * 0.25 ** 0.9, 12);
    expect(lrs.every((lr, i) => i === 0 || lr < lrs[i - 1])).toBe(true);
  });

  it('keeps a constant learning rate with the constant schedule', () => {
    const constant = resolveRecipe({ epochs: 4, learningRate: 0.1, learningRateSchedule: 'constant' });
    expect([0, 1, 2, 3].map((e) => epochSchedule(constant, e).learningRate)).toEqual([0.1, 0.1, 0.1, 0.1]);
  });

  it('ramps drop path linearly as drop_path * epoch / epochs', () => {
    expect([0, 1, 2, 3].map((e) => epochSchedule(recipe, e).dropPath)).toEqual([
      0, 0.05, 0.1, 0.15000000000000002,
    ]);
  });

  it('refuses an epoch outside the training', () => {
    expect(() => epochSchedule(recipe, 4)).toThrow('epoch: expected an integer in [0, 3], got 4');
    expect(() => epochSchedule(recipe, -1)).toThrow('epoch: expected an integer in [0, 3], got -1');
  });
});
