import { initBackend, tf } from '@rnas/engine';
import { batches, toTensors } from './batches';
import { openDataset } from './dataset';
import { hostBatches } from './host-batches';
import { deriveSeed } from './rng';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('batches (tensors)', () => {
  it('yields NHWC float32 images and int32 labels equal to the host batches, and leaks nothing', async () => {
    const ds = await openDataset('synthetic:shapes?classes=4&size=8&train=70&test=10&seed=1');
    const options = { batchSize: 32, shuffleSeed: 1, augment: { seed: 2, cutout: 4 } };
    const host = [...hostBatches(ds.train, options)];
    const start = tf.memory().numTensors;
    let k = 0;
    for (const batch of batches(ds.train, options)) {
      expect(batch.images.dtype).toBe('float32');
      expect(batch.labels.dtype).toBe('int32');
      expect(batch.images.shape).toEqual([host[k].size, 8, 8, 3]);
      expect(Array.from(await batch.images.data())).toEqual(Array.from(host[k].images));
      expect(Array.from(await batch.labels.data())).toEqual(Array.from(host[k].labels));
      batch.images.dispose();
      batch.labels.dispose();
      k++;
    }
    expect(k).toBe(3);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('creates nothing for batches never requested', () => {
    const start = tf.memory().numTensors;
    const it = batches({ ...synthetic(), size: 10 }, { batchSize: 4 });
    const first = it.next();
    expect(tf.memory().numTensors).toBe(start + 2);
    if (!first.done) tf.dispose([first.value.images, first.value.labels]);
    it.return(undefined);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('feeds a softmax regression that learns the synthetic classes well above chance', async () => {
    const ds = await openDataset('synthetic:shapes?classes=10&size=12&channels=3&train=600&test=200&seed=4');
    const features = 12 * 12 * 3;
    const start = tf.memory().numTensors;
    let w = tf.zeros([features, 10]) as tf.Tensor2D;
    let b = tf.zeros([10]) as tf.Tensor1D;
    const logits = (x: tf.Tensor4D): tf.Tensor2D => tf.add(tf.matMul(tf.reshape(x, [-1, features]), w), b);
    // Plain gradient descent with the closed-form gradient of the softmax cross-entropy, (p - y) x.
    for (let epoch = 0; epoch < 4; epoch++) {
      const shuffleSeed = deriveSeed(1, epoch);
      for (const batch of batches(ds.train, {
        batchSize: 64,
        shuffleSeed,
        augment: { seed: deriveSeed(2, epoch), cutout: 0 },
      })) {
        const [nextW, nextB] = tf.tidy(() => {
          const x = tf.reshape(batch.images, [-1, features]);
          const error = tf.div(
            tf.sub(tf.softmax(logits(batch.images)), tf.oneHot(batch.labels, 10)),
            batch.size,
          );
          return [
            tf.sub(w, tf.mul(tf.matMul(x, error, true, false), 0.05)),
            tf.sub(b, tf.mul(tf.sum(error, 0), 0.05)),
          ];
        });
        tf.dispose([w, b, batch.images, batch.labels]);
        [w, b] = [nextW as tf.Tensor2D, nextB as tf.Tensor1D];
      }
    }
    let correct = 0;
    for (const batch of batches(ds.test, { batchSize: 100 })) {
      correct += tf.tidy(
        () =>
          tf
            .sum(tf.cast(tf.equal(tf.argMax(logits(batch.images), 1), batch.labels), 'int32'))
            .arraySync() as number,
      );
      tf.dispose([batch.images, batch.labels]);
    }
    tf.dispose([w, b]);
    expect(correct / ds.test.size).toBeGreaterThan(0.4);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('disposes the image tensor when the label tensor cannot be made', () => {
    const start = tf.memory().numTensors;
    const bad = {
      index: 0,
      size: 1,
      shape: [1, 1, 1, 1] as [number, number, number, number],
      images: new Float32Array(1),
      labels: 'x' as never,
    };
    expect(() => toTensors(bad)).toThrow();
    expect(tf.memory().numTensors).toBe(start);
  });
});

function synthetic() {
  const images = new Uint8Array(10 * 4).map((_, i) => i);
  return {
    imageShape: [2, 2, 1] as const,
    images,
    labels: new Int32Array(10),
    numClasses: 1,
    mean: [0.1],
    std: [0.2],
  };
}
