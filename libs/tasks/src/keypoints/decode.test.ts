import { decodeHeatmaps, keypointsToImage, type Affine } from './decode';

/** NHWC heatmaps of one image from per-keypoint [h][w] maps. */
function maps(...perKeypoint: number[][][]): { data: Float32Array; shape: [number, number, number, number] } {
  const h = perKeypoint[0].length;
  const w = perKeypoint[0][0].length;
  const k = perKeypoint.length;
  const data = new Float32Array(h * w * k);
  perKeypoint.forEach((m, j) =>
    m.forEach((row, y) => row.forEach((v, x) => (data[(y * w + x) * k + j] = v))),
  );
  return { data, shape: [1, h, w, k] };
}

function grid(h: number, w: number, set: Record<string, number>): number[][] {
  return Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => set[`${x},${y}`] ?? 0));
}

describe('decodeHeatmaps', () => {
  it('takes the argmax and its value, stepping a quarter towards the higher neighbour inside the border', () => {
    const { data, shape } = maps(
      // Peak at (3, 2): right neighbour higher, upper neighbour higher.
      grid(6, 6, { '3,2': 1, '4,2': 0.5, '2,2': 0.2, '3,1': 0.4, '3,3': 0.1 }),
      // Peak at (1, 3): x = 1 is not inside 1 < x, no shift at all.
      grid(6, 6, { '1,3': 0.8, '2,3': 0.7, '1,4': 0.6 }),
      // Equal neighbours: no step on that axis.
      grid(6, 6, { '2,3': 0.9, '1,3': 0.3, '3,3': 0.3, '2,4': 0.5 }),
    );
    expect(Array.from(decodeHeatmaps(data, shape))).toEqual([
      3.25, 1.75, 1, 1, 3, 0.800000011920929, 2, 3.25, 0.8999999761581421,
    ]);
  });

  it('leaves the last column and row unshifted (x < w - 1, y < h - 1) and scales to crop pixels', () => {
    const { data, shape } = maps(grid(5, 4, { '3,2': 1, '2,2': 0.5 }), grid(5, 4, { '2,4': 1, '2,3': 0.5 }));
    expect(Array.from(decodeHeatmaps(data, shape, 4))).toEqual([12, 8, 1, 8, 16, 1]);
  });

  it('gives coordinates 0 when the maximum is not positive, and the first maximum on ties', () => {
    const { data, shape } = maps(
      grid(5, 5, { '2,2': -0.1 }).map((r) => r.map((v) => v - 1)),
      grid(5, 5, { '3,1': 2, '1,3': 2 }),
    );
    const out = decodeHeatmaps(data, shape, 4);
    expect(Array.from(out.subarray(0, 2))).toEqual([0, 0]);
    expect(out[2]).toBeCloseTo(-1);
    expect(Array.from(out.subarray(3))).toEqual([12, 4, 2]);
  });

  it('decodes every image of a batch', () => {
    const a = maps(grid(6, 6, { '2,2': 1 }));
    const b = maps(grid(6, 6, { '4,3': 2, '3,3': 1 }));
    const data = new Float32Array([...a.data, ...b.data]);
    expect(Array.from(decodeHeatmaps(data, [2, 6, 6, 1]))).toEqual([2, 2, 1, 3.75, 3, 2]);
  });

  it('refuses values that do not make the shape', () => {
    expect(() => decodeHeatmaps(new Float32Array(7), [1, 2, 2, 2])).toThrow(
      /heatmaps: 7 values do not make the shape \[1, 2, 2, 2\]/,
    );
    expect(() => decodeHeatmaps(new Float32Array(0), [-1, 0, 0, 0])).toThrow(/shape \[-1, 0, 0, 0\]/);
    expect(decodeHeatmaps(new Float32Array(0), [0, 4, 4, 3])).toEqual(new Float32Array(0));
  });
});

describe('keypointsToImage', () => {
  it('maps crop pixels through the inverse affine and keeps the scores', () => {
    // The reference's mapping: x_img = cx + (x − 96)·200·s_w/192 with cx = 300, s_w = 0.96.
    const s = (200 * 0.96) / 192;
    const inverse: Affine = [s, 0, 300 - 96 * s, 0, s, 200 - 128 * s];
    const out = keypointsToImage([96, 128, 0.5, 0, 0, 0.25], inverse);
    expect(Array.from(out)).toEqual([300, 200, 0.5, 300 - 96 * s, 200 - 128 * s, 0.25]);
  });

  it('refuses a ragged array and a bad affine', () => {
    expect(() => keypointsToImage([1, 2], [1, 0, 0, 0, 1, 0])).toThrow(
      /expected \(x, y, score\) triples, got 2/,
    );
    expect(() => keypointsToImage([1, 2, 3], [1, 0, NaN, 0, 1, 0])).toThrow(
      /affine: expected 6 finite numbers/,
    );
    expect(() => keypointsToImage([1, 2, 3], [1, 0, 0] as never)).toThrow(
      /affine: expected 6 finite numbers/,
    );
  });
});
