import {
  DETECTION_RECORD_SIZE,
  MAX_DETECTIONS,
  readDetectionRecord,
  writeDetectionRecord,
  type Detection,
} from './record';

const A: Detection = { box: [0.25, 0.5, 0.75, 1], score: 0.875, classIndex: 3 };
const B: Detection = { box: [-0.125, 0, 0.5, 0.25], score: 0.5, classIndex: 0 };

describe('detection records', () => {
  it('holds 200 detections of 6 values after a count, per image, and reads them back', () => {
    expect(DETECTION_RECORD_SIZE).toBe(1201);
    const out = new Float32Array(2 * DETECTION_RECORD_SIZE).fill(7);
    writeDetectionRecord([A, B], out, 1);
    writeDetectionRecord([], out, 0);
    expect(Array.from(out.subarray(DETECTION_RECORD_SIZE, DETECTION_RECORD_SIZE + 13))).toEqual([
      2, 0.25, 0.5, 0.75, 1, 0.875, 3, -0.125, 0, 0.5, 0.25, 0.5, 0,
    ]);
    expect(out.subarray(DETECTION_RECORD_SIZE + 13).every((v) => v === 0)).toBe(true);
    expect(readDetectionRecord(out, 1)).toEqual([A, B]);
    expect(readDetectionRecord(out, 0)).toEqual([]);
    const full = Array.from({ length: MAX_DETECTIONS }, () => A);
    writeDetectionRecord(full, out, 0);
    expect(readDetectionRecord(out, 0)).toHaveLength(MAX_DETECTIONS);
    expect(() => writeDetectionRecord([...full, A], out, 0)).toThrow(/201 detections, at most 200/);
  });

  it.each([
    [
      'a count above 200',
      (r: Float32Array) => (r[0] = 201),
      /count is 201, expected an integer in \[0, 200\]/,
    ],
    ['a fractional count', (r: Float32Array) => (r[0] = 1.5), /count is 1.5/],
    ['a NaN count', (r: Float32Array) => (r[0] = Number.NaN), /count is NaN/],
    ['a negative count', (r: Float32Array) => (r[0] = -1), /count is -1/],
    [
      'a NaN box',
      (r: Float32Array) => (r[2] = Number.NaN),
      /detection 0 is \[0.25, NaN, .*expected finite values/,
    ],
    ['an infinite score', (r: Float32Array) => (r[5] = Infinity), /detection 0 is/],
    ['a negative class', (r: Float32Array) => (r[6] = -1), /a class index >= 0/],
    ['a fractional class', (r: Float32Array) => (r[6] = 0.5), /a class index >= 0/],
  ])('refuses %s', (_name, corrupt, message) => {
    const out = new Float32Array(DETECTION_RECORD_SIZE);
    writeDetectionRecord([A], out, 0);
    corrupt(out);
    expect(() => readDetectionRecord(out, 0)).toThrow(message);
  });

  it('refuses an image the array does not hold', () => {
    const out = new Float32Array(DETECTION_RECORD_SIZE);
    expect(() => readDetectionRecord(out, 1)).toThrow(
      /detection record 1: expected an image index in \[0, 0\]/,
    );
    expect(() => readDetectionRecord(out, -1)).toThrow(/detection record -1/);
    expect(() => readDetectionRecord(out, 0.5)).toThrow(/detection record 0.5/);
    expect(() => readDetectionRecord(new Float32Array(10), 0)).toThrow(/\(10 values, 1201 per image\)/);
    expect(() => writeDetectionRecord([], new Float32Array(10), 0)).toThrow(
      /expected an image index in \[0, -1\]/,
    );
  });
});
