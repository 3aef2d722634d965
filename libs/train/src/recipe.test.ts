import { CIFAR_RECIPE, IMAGENET_RECIPE, resolveRecipe } from './recipe';
import { TrainError } from './errors';

describe('resolveRecipe', () => {
  it('gives section 7 CIFAR defaults for an empty request', () => {
    expect(resolveRecipe({})).toEqual({
      epochs: 600,
      batchSize: 128,
      learningRate: 0.025,
      learningRateSchedule: 'cosine',
      learningRateMin: 0,
      momentum: 0.9,
      weightDecay: 3e-4,
      auxiliaryWeight: 0.4,
      cutout: 16,
      cropPadding: 4,
      horizontalFlip: true,
      dropPath: 0.3,
      gradClip: 5,
      labelSmoothing: 0,
      trainImages: 0,
      evalImages: 0,
      seed: 0,
    });
    expect(resolveRecipe()).toEqual(CIFAR_RECIPE);
  });

  it('takes every knob from the request and leaves undefined fields at their defaults', () => {
    const r = resolveRecipe({
      epochs: 3,
      batchSize: 96,
      learningRate: 0.1,
      learningRateSchedule: 'constant',
      learningRateMin: 0.01,
      momentum: 0,
      weightDecay: 0,
      auxiliaryWeight: 0,
      cutout: 0,
      cropPadding: 0,
      horizontalFlip: false,
      dropPath: 0,
      gradClip: 0,
      labelSmoothing: 0.1,
      trainImages: 100,
      evalImages: 50,
      seed: 4294967295,
    });
    expect(r.batchSize).toBe(96);
    expect(r.learningRateSchedule).toBe('constant');
    expect(r.horizontalFlip).toBe(false);
    expect(r.seed).toBe(4294967295);
    expect(resolveRecipe({ epochs: undefined, seed: 3 })).toEqual({ ...CIFAR_RECIPE, seed: 3 });
  });

  it('has an ImageNet preset with label smoothing 0.1 and the cosine schedule', () => {
    const r = resolveRecipe({ epochs: 10 }, 'imagenet');
    expect(r).toEqual({ ...IMAGENET_RECIPE, epochs: 10 });
    expect(r.labelSmoothing).toBe(0.1);
    expect(r.learningRateSchedule).toBe('cosine');
  });

  it.each([
    [{ epochs: 0 }, 'recipe.epochs: expected an integer in [1, 100000], got 0'],
    [{ epochs: -1 }, 'recipe.epochs: expected an integer in [1, 100000], got -1'],
    [{ epochs: 1e9 }, 'recipe.epochs: expected an integer in [1, 100000], got 1000000000'],
    [{ epochs: 1.5 }, 'recipe.epochs: expected an integer in [1, 100000], got 1.5'],
    [{ epochs: NaN }, 'recipe.epochs: expected an integer in [1, 100000], got NaN'],
    [{ epochs: '5' }, 'recipe.epochs: expected an integer in [1, 100000], got "5"'],
    [{ batchSize: 0 }, 'recipe.batchSize: expected an integer in [2, 4096], got 0'],
    [{ batchSize: 1 }, 'recipe.batchSize: expected an integer in [2, 4096], got 1'],
    [{ batchSize: 1e6 }, 'recipe.batchSize: expected an integer in [2, 4096], got 1000000'],
    [{ learningRate: 0 }, 'recipe.learningRate: expected a number in (0, 10], got 0'],
    [{ learningRate: -0.1 }, 'recipe.learningRate: expected a number in (0, 10], got -0.1'],
    [{ learningRate: Infinity }, 'recipe.learningRate: expected a number in (0, 10], got Infinity'],
    [{ learningRate: NaN }, 'recipe.learningRate: expected a number in (0, 10], got NaN'],
    [
      { learningRateSchedule: 'step' },
      'recipe.learningRateSchedule: expected one of cosine, constant, poly, got "step"',
    ],
    [
      { learningRateMin: 0.1 },
      'recipe.learningRateMin: expected a number in [0, learningRate = 0.025], got 0.1',
    ],
    [{ momentum: 1 }, 'recipe.momentum: expected a number in [0, 1), got 1'],
    [{ momentum: -0.5 }, 'recipe.momentum: expected a number in [0, 1), got -0.5'],
    [{ weightDecay: -1 }, 'recipe.weightDecay: expected a number in [0, 1], got -1'],
    [{ auxiliaryWeight: NaN }, 'recipe.auxiliaryWeight: expected a number in [0, 10], got NaN'],
    [{ cutout: -1 }, 'recipe.cutout: expected an integer in [0, 1024], got -1'],
    [{ cropPadding: 1e9 }, 'recipe.cropPadding: expected an integer in [0, 256], got 1000000000'],
    [{ horizontalFlip: 'yes' }, 'recipe.horizontalFlip: expected a boolean, got "yes"'],
    [{ dropPath: 1 }, 'recipe.dropPath: expected a number in [0, 1), got 1'],
    [{ gradClip: -5 }, 'recipe.gradClip: expected a number in [0, 1000000], got -5'],
    [{ labelSmoothing: 1 }, 'recipe.labelSmoothing: expected a number in [0, 1), got 1'],
    [{ trainImages: -1 }, 'recipe.trainImages: expected an integer in [0, 2147483647], got -1'],
    [{ evalImages: 0.5 }, 'recipe.evalImages: expected an integer in [0, 2147483647], got 0.5'],
    [{ seed: -1 }, 'recipe.seed: expected an integer in [0, 4294967295], got -1'],
    [{ seed: 2 ** 32 }, 'recipe.seed: expected an integer in [0, 4294967295], got 4294967296'],
    [{ epoch: 3 }, 'recipe: unknown field "epoch"'],
    [null, 'recipe: expected an object, got null'],
    [[1, 2], 'recipe: expected an object, got an array of length 2'],
    ['600', 'recipe: expected an object, got "600"'],
  ])('rejects %j', (input, message) => {
    let caught: unknown;
    try {
      resolveRecipe(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TrainError);
    expect((caught as TrainError).code).toBe('INVALID_ARGUMENT');
    expect((caught as TrainError).message).toContain(message);
  });

  it('cuts a huge hostile string in the message', () => {
    expect(() => resolveRecipe({ learningRateSchedule: 'x'.repeat(1e6) })).toThrow(/"x{80}\.\.\."$/);
  });
});
