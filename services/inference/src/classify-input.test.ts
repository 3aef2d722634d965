import { InvalidArgumentError } from '@rnas/grpc';
import {
  checkFiniteRecords,
  checkImageCount,
  checkModelName,
  checkVersion,
  resolveTopK,
  tensorInput,
  topClasses,
  topIndices,
} from './classify-input';

const SHAPE = { height: 2, width: 3, channels: 1 };

describe('request checks', () => {
  it('requires a model name and a version from 1', () => {
    expect(() => checkModelName('')).toThrow('invalid model_name="": required');
    expect(checkModelName('fashion')).toBe('fashion');
    expect(() => checkVersion(0)).toThrow(/invalid version=0: versions start at 1/);
    expect(checkVersion(undefined)).toBeUndefined();
    expect(checkVersion(3)).toBe(3);
  });

  it('reads top_k as the contract says: 0 means 5, capped at the class count, absurd values refused', () => {
    expect(resolveTopK(0, 10)).toBe(5);
    expect(resolveTopK(0, 3)).toBe(3);
    expect(resolveTopK(7, 10)).toBe(7);
    expect(resolveTopK(20, 10)).toBe(10);
    expect(() => resolveTopK(1001, 10)).toThrow(InvalidArgumentError);
    // What a client's -1 becomes in a uint32 field.
    expect(() => resolveTopK(4294967295, 10)).toThrow(
      /^invalid top_k=4294967295: expected 0 \(meaning 5\) to 1000/,
    );
  });

  it('bounds the images per request', () => {
    expect(() => checkImageCount(0, 8)).toThrow(
      'invalid images.images="0 images": expected at least one image',
    );
    expect(() => checkImageCount(9, 8)).toThrow(
      /invalid images.images="9 images": at most 8 images per request/,
    );
    expect(() => checkImageCount(8, 8)).not.toThrow();
  });
});

describe('tensorInput', () => {
  const values = (n: number, fill = 0.5): number[] => new Array<number>(n * 6).fill(fill);

  it('accepts an NHWC tensor of the model shape', () => {
    const { values: out, n } = tensorInput({ shape: [2, 2, 3, 1], values: values(2, 0.25) }, SHAPE, 4);
    expect(n).toBe(2);
    expect(out).toEqual(new Float32Array(12).fill(0.25));
  });

  it.each([
    [[2, 3, 1], 'a rank-3 shape'],
    [[1, 3, 2, 1], 'swapped height and width'],
    [[1, 2, 3, 3], 'three channels for a grayscale model'],
    [[0, 2, 3, 1], 'an empty batch'],
    [[5, 2, 3, 1], 'more images than a batch'],
  ])('refuses shape %j (%s), naming tensor.shape', (shape) => {
    expect(() => tensorInput({ shape, values: values(1) }, SHAPE, 4)).toThrow(
      /^invalid tensor\.shape=\[.*\]: expected \[N, 2, 3, 1\] \(NHWC, N from 1 to 4\)$/,
    );
  });

  it('refuses a value count that does not match the shape', () => {
    expect(() => tensorInput({ shape: [2, 2, 3, 1], values: values(1) }, SHAPE, 4)).toThrow(
      'invalid tensor.values="6 values": shape [2, 2, 3, 1] needs 12 values',
    );
  });

  it.each([NaN, Infinity, -Infinity])('refuses %p, naming the index', (bad) => {
    const v = values(1);
    v[4] = bad;
    expect(() => tensorInput({ shape: [1, 2, 3, 1], values: v }, SHAPE, 4)).toThrow(
      `invalid tensor.values[4]=${bad}: must be finite`,
    );
  });

  it.each([1e39, -1e39, Number.MAX_VALUE])('refuses %p, finite as a double but not as a float32', (big) => {
    const v = values(1);
    v[2] = big;
    expect(() => tensorInput({ shape: [1, 2, 3, 1], values: v }, SHAPE, 4)).toThrow(
      /^invalid tensor\.values\[2\]=.*e\+\d+: must be finite as a float32 \(\|value\| <= 3\.4028234663852886e\+38\)$/,
    );
  });

  it.each([3e38, -3e38])(
    'accepts %p, extreme but finite (what it produces is checked after the forward pass)',
    (big) => {
      const { values: out } = tensorInput({ shape: [1, 2, 3, 1], values: values(1, big) }, SHAPE, 4);
      expect(out).toEqual(new Float32Array(6).fill(big));
    },
  );
});

describe('checkFiniteRecords', () => {
  const field = (i: number): string => (i === 0 ? 'tensor.values' : `images.images[${i}]`);

  it('lets finite logits and probabilities in [0, 1] through', () => {
    const records = Float32Array.from([3e38, -3e38, 0, 1, 0, 0, 0.5, 0.25, 0, 0.5, 0.25, 0.25]);
    expect(() => checkFiniteRecords(records, 2, 3, field)).not.toThrow();
  });

  it.each([NaN, Infinity, -Infinity])(
    'refuses an image whose logits came out %p: the input produced non-finite outputs',
    (bad) => {
      const records = Float32Array.from([0, 1, 2, 0.1, 0.2, 0.7, 0, bad, 2, NaN, NaN, NaN]);
      expect(() => checkFiniteRecords(records, 2, 3, field)).toThrow(
        `invalid images.images[1]="image 1": the input produced non-finite outputs (logit 1 is ${bad}): the network overflowed`,
      );
      expect(() => checkFiniteRecords(records, 1, 3, field)).not.toThrow();
    },
  );

  it('refuses a probability outside [0, 1] even with finite logits', () => {
    const records = Float32Array.from([0, 1, NaN, 0.5]);
    expect(() => checkFiniteRecords(records, 1, 2, field)).toThrow(
      /^invalid tensor\.values="image 0": the input produced non-finite outputs \(probability 0 is NaN\)/,
    );
  });
});

describe('topIndices', () => {
  it('orders NaN below every number, so the order is well defined whatever the values', () => {
    const values = Float32Array.from([NaN, 0.2, NaN, 0.5, -Infinity, 0.2]);
    expect(topIndices(values, 6)).toEqual([3, 1, 5, 0, 2, 4]);
    // The same answer from any starting order of the same values.
    expect(topIndices(Float32Array.from([0.2, NaN, 0.5]), 3)).toEqual([2, 0, 1]);
    expect(topIndices(Float32Array.from([NaN, NaN, NaN]), 2)).toEqual([0, 1]);
  });
});

describe('topClasses', () => {
  it('orders each row by probability (not logit), ties by class index, and keeps k', () => {
    // Each record: three logits (ordered differently on purpose), then three probabilities.
    const records = Float32Array.from([9, 0, 0, 0.1, 0.6, 0.3, 0, 9, 0, 0.25, 0.25, 0.5]);
    const rows = topClasses(records, 2, ['a', 'b', 'c'], 2);
    expect(rows[0].scores.map((s) => [s.classIndex, s.label])).toEqual([
      [1, 'b'],
      [2, 'c'],
    ]);
    expect(rows[0].scores[0].score).toBeCloseTo(0.6);
    expect(rows[1].scores.map((s) => s.classIndex)).toEqual([2, 0]);
  });
});
