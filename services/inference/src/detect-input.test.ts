import { InvalidArgumentError } from '@rnas/grpc';
import { DETECTION_RECORD_SIZE, writeDetectionRecord } from '@rnas/tasks';
import { DEFAULT_MAX_DETECTIONS, imageDetections, resolveDetectOptions } from './detect-input';

const LABELS = ['circle', 'square', 'triangle'];

describe('Detect request checks', () => {
  it('takes the defaults for unset fields and maps class names to indices', () => {
    expect(resolveDetectOptions({ classes: [] }, LABELS)).toEqual({
      scoreThreshold: 0.3,
      maxDetections: DEFAULT_MAX_DETECTIONS,
      classes: null,
    });
    const options = resolveDetectOptions(
      { scoreThreshold: 0, maxDetections: 200, classes: ['triangle'] },
      LABELS,
    );
    expect(options.scoreThreshold).toBe(0);
    expect([...(options.classes ?? [])]).toEqual([2]);
  });

  it('refuses thresholds outside [0, 1], non-finite ones, max detections of 0 or over the cap, unknown classes', () => {
    for (const scoreThreshold of [-0.01, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => resolveDetectOptions({ scoreThreshold, classes: [] }, LABELS)).toThrow(
        /^invalid score_threshold=.*: expected a number in \[0, 1\]/,
      );
    }
    for (const maxDetections of [0, 201, 4294967295]) {
      expect(() => resolveDetectOptions({ maxDetections, classes: [] }, LABELS)).toThrow(
        /^invalid max_detections=\d+: expected an integer in \[1, 200\]/,
      );
    }
    expect(() => resolveDetectOptions({ classes: ['circle', 'hexagon'] }, LABELS)).toThrow(
      /^invalid classes\[1\]="hexagon": expected one of the model's labels \(circle, square, triangle\)/,
    );
    expect(() => resolveDetectOptions({ classes: ['x'.repeat(10_000)] }, LABELS)).toThrow(
      InvalidArgumentError,
    );
    expect(() => resolveDetectOptions({ classes: Array(1001).fill('circle') }, LABELS)).toThrow(
      /^invalid classes="1001 classes": at most 1000/,
    );
  });
});

describe('Detect responses', () => {
  const records = new Float32Array(2 * DETECTION_RECORD_SIZE);
  writeDetectionRecord(
    [
      { box: [0.1, 0.2, 0.5, 0.6], score: 0.9, classIndex: 1 },
      { box: [-0.1, 0.5, 1.2, 0.9], score: 0.5, classIndex: 0 },
      { box: [0.3, 0.3, 0.4, 0.4], score: 0.2, classIndex: 2 },
    ],
    records,
    0,
  );
  writeDetectionRecord([], records, 1);

  it("maps boxes to each image's own pixels, clipped to it, and applies the request's filters", () => {
    const sizes = [
      { width: 200, height: 100 },
      { width: 64, height: 64 },
    ];
    const [first, second] = imageDetections(
      records,
      sizes,
      LABELS,
      resolveDetectOptions({ classes: [] }, LABELS),
    );
    expect(first.width).toBe(200);
    expect(first.height).toBe(100);
    expect(first.detections.map((d) => [d.label, d.score])).toEqual([
      ['square', expect.closeTo(0.9, 6)],
      ['circle', 0.5],
    ]);
    const box = first.detections[0].box;
    expect(
      [box?.xMin, box?.yMin, box?.xMax, box?.yMax].map((v) => Math.round((v ?? NaN) * 1000) / 1000),
    ).toEqual([20, 20, 100, 60]);
    // Outside the image: clipped to its edges.
    expect(first.detections[1].box).toEqual({ xMin: 0, yMin: 50, xMax: 200, yMax: expect.closeTo(90, 4) });
    expect(second.detections).toEqual([]);
    const onlyCircles = imageDetections(
      records,
      sizes,
      LABELS,
      resolveDetectOptions({ scoreThreshold: 0.1, classes: ['circle', 'triangle'] }, LABELS),
    );
    expect(onlyCircles[0].detections.map((d) => d.label)).toEqual(['circle', 'triangle']);
    const one = imageDetections(
      records,
      sizes,
      LABELS,
      resolveDetectOptions({ maxDetections: 1, classes: [] }, LABELS),
    );
    expect(one[0].detections).toHaveLength(1);
  });
});
