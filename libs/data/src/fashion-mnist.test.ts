import { existsSync } from 'node:fs';
import { openDataset } from './dataset';
import { FASHION_MNIST_CLASSES } from './idx';

// Debian's dataset-fashion-mnist package: .ci/run installs it, and `make test` says how when it is
// missing. Without it this suite fails: the loader's claim is tested on the real files or not at all.
const DIR = '/usr/share/datasets/fashion-mnist';

describe('Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('is installed', () => {
    if (!existsSync(DIR)) {
      throw new Error(`${DIR} is missing: sudo apt-get install dataset-fashion-mnist`);
    }
  });

  it('reads 60000 training and 10000 test images of 28x28 in 10 named classes', async () => {
    const ds = await openDataset(`fashion-mnist:${DIR}`, { dataRoots: ['/usr/share/datasets'] });
    expect(ds.name).toBe('fashion-mnist');
    expect(ds.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(ds.classNames[9]).toBe('Ankle boot');
    expect(ds.imageShape).toEqual([28, 28, 1]);
    expect([ds.train.size, ds.test.size]).toEqual([60000, 10000]);
    expect(ds.train.images.length).toBe(60000 * 784);
    const perClass = (labels: Int32Array): number[] => {
      const counts = new Array(10).fill(0);
      labels.forEach((l) => counts[l]++);
      return counts;
    };
    expect(perClass(ds.train.labels)).toEqual(new Array(10).fill(6000));
    expect(perClass(ds.test.labels)).toEqual(new Array(10).fill(1000));
    // The first labels of the files (ankle boot, T-shirt, T-shirt, dress) and the commonly quoted statistics.
    expect(Array.from(ds.train.labels.subarray(0, 4))).toEqual([9, 0, 0, 3]);
    expect(Array.from(ds.test.labels.subarray(0, 4))).toEqual([9, 2, 1, 1]);
    expect(ds.mean[0]).toBeCloseTo(0.286, 3);
    expect(ds.std[0]).toBeCloseTo(0.353, 3);
  });
});
