import { ConfusionMatrix } from './metrics';

describe('ConfusionMatrix', () => {
  it('pins IoU, mIoU and pixel accuracy on a hand case', () => {
    // 3 classes. Labels / predictions over 8 pixels, one ignored:
    //   class 0: labelled 3, predicted right twice, once as 1
    //   class 1: labelled 2, predicted right once, once as 2
    //   class 2: labelled 2, both right
    const labels = [0, 0, 0, 1, 1, 2, 2, 255];
    const predicted = [0, 0, 1, 1, 2, 2, 2, 0];
    const m = new ConfusionMatrix(3);
    m.add(predicted, labels);
    expect(Array.from(m.counts)).toEqual([2, 1, 0, 0, 1, 1, 0, 0, 2]);
    const r = m.metrics();
    // IoU: 0: 2/(3+2−2) = 2/3; 1: 1/(2+2−1) = 1/3; 2: 2/(2+3−2) = 2/3.
    expect(r.iou[0]).toBeCloseTo(2 / 3, 12);
    expect(r.iou[1]).toBeCloseTo(1 / 3, 12);
    expect(r.iou[2]).toBeCloseTo(2 / 3, 12);
    expect(r.mIoU).toBeCloseTo(5 / 9, 12);
    expect(r.pixelAccuracy).toBeCloseTo(5 / 7, 12);
    expect(r.pixels).toBe(7);
  });

  it('leaves classes neither labelled nor predicted out of the mean; a falsely predicted one counts 0', () => {
    const m = new ConfusionMatrix(4);
    // Class 3 never appears; class 2 is only predicted (a false positive).
    m.add(Float32Array.from([0, 0, 1, 2]), Uint8Array.from([0, 0, 1, 1]));
    const r = m.metrics();
    expect(r.iou).toEqual([1, 0.5, 0, null]);
    expect(r.mIoU).toBeCloseTo(0.5, 12);
    expect(r.pixelAccuracy).toBeCloseTo(3 / 4, 12);
  });

  it('accumulates over images and merges matrices', () => {
    const a = new ConfusionMatrix(2);
    a.add([0, 1], [0, 1]);
    a.add([1, 1], [0, 255]);
    const b = new ConfusionMatrix(2);
    b.add([0], [1]);
    a.merge(b);
    expect(Array.from(a.counts)).toEqual([1, 1, 1, 1]);
    expect(a.metrics().mIoU).toBeCloseTo(1 / 3, 12);
    expect(() => a.merge(new ConfusionMatrix(3))).toThrow(/cannot merge 3 classes into 2/);
  });

  it('gives NaN, not a number it made up, without labelled pixels', () => {
    const m = new ConfusionMatrix(2);
    m.add([0, 1], [255, 255]);
    m.add([], []);
    const r = m.metrics();
    expect(r.mIoU).toBeNaN();
    expect(r.pixelAccuracy).toBeNaN();
    expect(r.iou).toEqual([null, null]);
    expect(r.pixels).toBe(0);
  });

  it('refuses labels and predictions outside the classes, naming the pixel', () => {
    const m = new ConfusionMatrix(3);
    expect(() => m.add([0, 0], [0, 3], 'b.png')).toThrow(
      'b.png: pixel 1 has label 3, expected a class in [0, 2] or 255 (ignored)',
    );
    expect(() => m.add([0, 7], [0, 1])).toThrow(
      'labels: pixel 1 is predicted as 7, expected a class in [0, 2]',
    );
    expect(() => m.add([0.5], [0])).toThrow(/predicted as 0.5/);
    expect(() => m.add([NaN], [0])).toThrow(/predicted as NaN/);
    expect(() => m.add([-1], [0])).toThrow(/predicted as -1/);
    expect(() => m.add([0], [0, 1])).toThrow('labels: 2 labels for 1 predicted pixels');
    // A refused batch counts nothing, not even its pixels before the bad one.
    expect(Array.from(m.counts)).toEqual(new Array(9).fill(0));
    expect(() => new ConfusionMatrix(0)).toThrow(/classes must be an integer in \[1, 255\], got 0/);
    expect(() => new ConfusionMatrix(256)).toThrow(/got 256/);
    expect(() => new ConfusionMatrix(2.5)).toThrow(/got 2.5/);
  });

  it('handles a large image', () => {
    const n = 1024 * 1024;
    const labels = new Uint8Array(n);
    const predicted = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 19;
      predicted[i] = i % 2 === 0 ? i % 19 : 0;
    }
    const m = new ConfusionMatrix(19);
    m.add(predicted, labels);
    const r = m.metrics();
    expect(r.pixels).toBe(n);
    expect(r.pixelAccuracy).toBeGreaterThan(0.5);
    expect(r.pixelAccuracy).toBeLessThan(0.6);
  });
});
