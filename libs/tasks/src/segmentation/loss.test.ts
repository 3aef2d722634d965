import { gradients, initBackend, tf, type Tensor4D } from '@rnas/engine';
import { pixelCrossEntropy, pixelLabels, segmentationLoss } from './loss';

const ln = Math.log;

describe('segmentation loss', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('is the mean cross-entropy over labelled pixels, the ignore label left out', () => {
    // Two pixels of 2 classes: logits (0, 0) labelled 1 → ln 2; (ln 3, 0) labelled 0 → ln(4/3);
    // a third pixel ignored whatever its logits.
    const logits = tf.tensor4d([0, 0, ln(3), 0, 100, -100], [1, 1, 3, 2]);
    const before = tf.memory().numTensors;
    const loss = pixelCrossEntropy(logits, pixelLabels(Uint8Array.from([1, 0, 255]), 2));
    expect(loss.dataSync()[0]).toBeCloseTo((ln(2) + ln(4 / 3)) / 2, 6);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(before);
    logits.dispose();
  });

  it('is 0, not NaN, when every pixel is ignored, and its gradient is 0', () => {
    const logits = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 2, 2]) as Tensor4D;
    const target = pixelLabels(new Uint8Array(4).fill(255), 2);
    expect(target.labelled).toBe(0);
    const { value, grads } = gradients(() => pixelCrossEntropy(logits, target), [logits]);
    expect(value.dataSync()[0]).toBe(0);
    expect(Array.from(grads[0]?.dataSync() ?? [1])).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    tf.dispose([value, ...grads.filter((g) => g !== undefined), logits]);
  });

  it('gives ignored pixels no gradient and labelled ones softmax − one-hot over the count', () => {
    const logits = tf.tensor4d([0, 0, 50, -50], [1, 1, 2, 2]) as Tensor4D;
    const { value, grads } = gradients(
      () => pixelCrossEntropy(logits, pixelLabels(Uint8Array.from([0, 255]), 2)),
      [logits],
    );
    const g = Array.from(grads[0]?.dataSync() ?? []);
    expect(g[0]).toBeCloseTo(0.5 - 1, 6);
    expect(g[1]).toBeCloseTo(0.5, 6);
    expect(g.slice(2).map(Math.abs)).toEqual([0, 0]);
    tf.dispose([value, ...grads.filter((g) => g !== undefined), logits]);
  });

  it('adds the auxiliary terms with their weight, only where the outputs have them', () => {
    const main = tf.tensor4d([0, 0, 0], [1, 1, 1, 3]);
    const aux8 = tf.tensor4d([ln(2), 0, 0], [1, 1, 1, 3]);
    const aux16 = tf.tensor4d([0, ln(2), 0], [1, 1, 1, 3]);
    const target = pixelLabels(Uint8Array.from([0]), 3);
    const value = (outputs: Parameters<typeof segmentationLoss>[0], w: number) => {
      const t = segmentationLoss(outputs, target, w);
      const v = t.dataSync()[0];
      t.dispose();
      return v;
    };
    expect(value({ main }, 1)).toBeCloseTo(ln(3), 6);
    expect(value({ main, aux8, aux16 }, 1)).toBeCloseTo(ln(3) + ln(4 / 2) + ln(4 / 1), 6);
    expect(value({ main, aux8, aux16 }, 0.5)).toBeCloseTo(ln(3) + 0.5 * (ln(2) + ln(4)), 6);
    expect(value({ main, aux8, aux16 }, 0)).toBeCloseTo(ln(3), 6);
    tf.dispose([main, aux8, aux16]);
  });

  it('refuses labels outside the classes that are not the ignore label, naming the pixel', () => {
    expect(() => pixelLabels(Uint8Array.from([0, 1, 3]), 3, 'batch 2')).toThrow(
      'batch 2: pixel 2 has label 3, expected a class in [0, 2] or 255 (ignored)',
    );
    expect(() => pixelLabels(Uint8Array.from([254]), 21)).toThrow(/pixel 0 has label 254/);
    expect(pixelLabels(new Uint8Array(0), 2).labelled).toBe(0);
    const logits = tf.zeros([1, 2, 2, 2]) as Tensor4D;
    expect(() => pixelCrossEntropy(logits, pixelLabels(new Uint8Array(3), 2))).toThrow(
      /3 labels for logits of 1x2x2 pixels/,
    );
    logits.dispose();
  });

  it('stays finite on huge logits', () => {
    const logits = tf.tensor4d([1e30, -1e30, -1e30, 1e30], [1, 1, 2, 2]);
    const loss = pixelCrossEntropy(logits, pixelLabels(Uint8Array.from([0, 0]), 2));
    const v = loss.dataSync()[0];
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeCloseTo(1e30, -25);
    tf.dispose([loss, logits]);
  });
});
