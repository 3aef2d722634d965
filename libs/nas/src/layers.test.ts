import {
  dilatedDepthwiseConv2d,
  initBackend,
  tf,
  type BackendName,
  type Tensor,
  type Tensor1D,
  type Tensor4D,
} from '@rnas/engine';
import { checkpointed } from './checkpoint';
import {
  AvgPool,
  BatchNorm,
  Depthwise,
  Conv,
  FactorizedReduce,
  MaxPool3,
  Relu,
  Sequential,
  subsample,
  windowOut,
  type BatchStats,
  type ForwardContext,
  type Module,
} from './layers';
import { OPS } from './ops';
import { initParams, type ParamMap } from './params';

const BACKENDS: BackendName[] = ['cpu', 'wasm'];

function context(params: ParamMap, training: boolean, stats?: Map<string, BatchStats>): ForwardContext {
  return {
    training,
    bnEps: 1e-5,
    dropPath: null,
    recompute: false,
    param(name: string): Tensor {
      const t = params.get(name);
      if (t === undefined) throw new Error(`missing ${name}`);
      return t;
    },
    recordBatchStats(name, s) {
      stats?.set(name, { mean: tf.keep(s.mean), variance: tf.keep(s.variance), count: s.count });
    },
  };
}

/** NHWC values at [b, r, q, ch]. */
function at(
  v: ArrayLike<number>,
  shape: readonly number[],
  b: number,
  r: number,
  q: number,
  ch: number,
): number {
  const [, h, w, c] = shape;
  return v[((b * h + r) * w + q) * c + ch];
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Reference max pool 3x3 pad 1 (PyTorch: first maximum in scan order gets the gradient). */
function bruteMaxPool(x: Float32Array, shape: number[], s: number, dy: Float32Array) {
  const [n, h, w, c] = shape;
  const ho = windowOut('ref', h, 3, s, 1);
  const wo = windowOut('ref', w, 3, s, 1);
  const y = new Float32Array(n * ho * wo * c);
  const dx = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let arg = -1;
          for (let di = 0; di < 3; di++)
            for (let dj = 0; dj < 3; dj++) {
              const r = i * s - 1 + di;
              const q = j * s - 1 + dj;
              if (r < 0 || q < 0 || r >= h || q >= w) continue;
              const idx = ((b * h + r) * w + q) * c + ch;
              if (x[idx] > best) [best, arg] = [x[idx], idx];
            }
          const o = ((b * ho + i) * wo + j) * c + ch;
          y[o] = best;
          dx[arg] += dy[o];
        }
  return { y, dx, shape: [n, ho, wo, c] };
}

/** Reference avg pool k, stride s, pad p, padded cells not counted; and its input gradient. */
function bruteAvgPool(x: Float32Array, shape: number[], k: number, s: number, p: number, dy: Float32Array) {
  const [n, h, w, c] = shape;
  const ho = windowOut('ref', h, k, s, p);
  const wo = windowOut('ref', w, k, s, p);
  const y = new Float32Array(n * ho * wo * c);
  const dx = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let ch = 0; ch < c; ch++) {
          const cells: number[] = [];
          for (let di = 0; di < k; di++)
            for (let dj = 0; dj < k; dj++) {
              const r = i * s - p + di;
              const q = j * s - p + dj;
              if (r >= 0 && q >= 0 && r < h && q < w) cells.push(((b * h + r) * w + q) * c + ch);
            }
          const o = ((b * ho + i) * wo + j) * c + ch;
          y[o] = cells.reduce((a, idx) => a + x[idx], 0) / cells.length;
          for (const idx of cells) dx[idx] += dy[o] / cells.length;
        }
  return { y, dx };
}

describe.each(BACKENDS)('layers on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it('subsample picks x[:, ::sh, ::sw] for even and odd sizes, with a gradient', () => {
    const before = tf.memory().numTensors;
    for (const [h, w, sh, sw] of [
      [6, 6, 2, 2],
      [7, 5, 2, 2],
      [5, 8, 1, 2],
    ]) {
      const x = tf.tidy(() => tf.reshape(tf.range(0, 2 * h * w * 3), [2, h, w, 3])) as Tensor4D;
      const y = tf.tidy(() => subsample(x, sh, sw));
      const v = x.dataSync();
      const out = y.dataSync();
      const [, ho, wo] = y.shape;
      expect(y.shape).toEqual([2, Math.ceil(h / sh), Math.ceil(w / sw), 3]);
      for (let b = 0; b < 2; b++)
        for (let i = 0; i < ho; i++)
          for (let j = 0; j < wo; j++)
            for (let c = 0; c < 3; c++)
              expect(at(out, y.shape, b, i, j, c)).toBe(at(v, x.shape, b, i * sh, j * sw, c));
      const total = tf.tidy(() =>
        tf.sum(tf.grad((t: Tensor) => tf.sum(subsample(t as Tensor4D, sh, sw)))(tf.cast(x, 'float32'))),
      );
      expect(total.dataSync()[0]).toBe(2 * ho * wo * 3);
      tf.dispose([x, y, total]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [1, 8, false],
    [2, 8, false],
    [2, 7, false],
    [1, 5, true],
    [2, 6, true],
  ] as const)('max pool stride %i on %ix%i (ties %s) matches PyTorch, gradient included', (s, hw, ties) => {
    const before = tf.memory().numTensors;
    const shape: [number, number, number, number] = [8, hw, hw, 3];
    // Rounded values make many ties, where the first maximum in scan order must win.
    const x = tf.tidy(() => {
      const u = tf.randomUniform(shape, -1, 1, 'float32', 11);
      return ties ? tf.round(tf.mul(u, 1.5)) : u;
    }) as Tensor4D;
    // Through the Module interface, as cells call it, in both modes.
    const pool: Module = new MaxPool3(s);
    const ref0 = bruteMaxPool(x.dataSync() as Float32Array, shape, s, new Float32Array(0));
    const dy = tf.randomUniform(ref0.shape as typeof shape, -1, 1, 'float32', 12) as Tensor4D;
    const ref = bruteMaxPool(x.dataSync() as Float32Array, shape, s, dy.dataSync() as Float32Array);
    for (const training of [false, true]) {
      const y = tf.tidy(() => pool.apply(x, context(new Map(), training)));
      expect(y.shape).toEqual(ref.shape);
      expect(maxAbsDiff(y.dataSync(), ref.y)).toBe(0);
      y.dispose();
    }
    const dx = tf.tidy(() =>
      tf.grad((t: Tensor) => tf.sum(tf.mul(pool.apply(t as Tensor4D, context(new Map(), true)), dy)))(x),
    );
    expect(maxAbsDiff(dx.dataSync(), ref.dx)).toBeLessThan(1e-6);
    tf.dispose([x, dy, dx]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [3, 1, 1, 7],
    [3, 2, 1, 8],
    [3, 2, 1, 5],
    [5, 3, 0, 8],
  ] as const)('avg pool k%i s%i p%i on %ix%i does not count padding, gradient included', (k, s, p, hw) => {
    const before = tf.memory().numTensors;
    const shape: [number, number, number, number] = [2, hw, hw, 4];
    const x = tf.randomUniform(shape, -1, 1, 'float32', 21) as Tensor4D;
    const pool = new AvgPool('pool', k, s, p);
    const y = tf.tidy(() => pool.apply(x));
    const dy = tf.randomUniform(y.shape, -1, 1, 'float32', 22) as Tensor4D;
    const ref = bruteAvgPool(x.dataSync() as Float32Array, shape, k, s, p, dy.dataSync() as Float32Array);
    expect(y.shape).toEqual([2, ...pool.trace([hw, hw, 4]).shape]);
    expect(maxAbsDiff(y.dataSync(), ref.y)).toBeLessThan(1e-6);
    const dx = tf.tidy(() => tf.grad((t: Tensor) => tf.sum(tf.mul(pool.apply(t as Tensor4D), dy)))(x));
    expect(maxAbsDiff(dx.dataSync(), ref.dx)).toBeLessThan(1e-6);
    tf.dispose([x, y, dy, dx]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('training batch norm normalises with batch moments, reports them, and has the textbook gradient', () => {
    const before = tf.memory().numTensors;
    const bn = new BatchNorm('bn', 3);
    const params: ParamMap = new Map([
      ['bn.weight', tf.tensor1d([0.5, 2, -1])],
      ['bn.bias', tf.tensor1d([0.1, 0, 3])],
      ['bn.running_mean', tf.zeros([3])],
      ['bn.running_var', tf.ones([3])],
    ]);
    const x = tf.randomNormal([4, 3, 5, 3], 2, 3, 'float32', 31) as Tensor4D;
    const dy = tf.randomNormal([4, 3, 5, 3], 0, 1, 'float32', 32) as Tensor4D;
    const stats = new Map<string, BatchStats>();
    const gamma = params.get('bn.weight') as Tensor1D;
    const beta = params.get('bn.bias') as Tensor1D;
    const textbook = (t: Tensor, g: Tensor, b: Tensor) => {
      const { mean, variance } = tf.moments(t, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const ours = tf.tidy(() =>
      tf.grads((t: Tensor, g: Tensor, b: Tensor) =>
        tf.sum(
          tf.mul(
            bn.apply(
              t as Tensor4D,
              context(new Map([...params, ['bn.weight', g], ['bn.bias', b]]), true, stats),
            ),
            dy,
          ),
        ),
      )([x, gamma, beta]),
    );
    const ref = tf.tidy(() =>
      tf.grads((t: Tensor, g: Tensor, b: Tensor) => tf.sum(tf.mul(textbook(t, g, b), dy)))([x, gamma, beta]),
    );
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(ours[i].dataSync(), ref[i].dataSync())).toBeLessThan(1e-4);
    const y = tf.tidy(() => bn.apply(x, context(params, true)));
    const yRef = tf.tidy(() => textbook(x, gamma, beta));
    expect(maxAbsDiff(y.dataSync(), yRef.dataSync())).toBeLessThan(1e-5);
    const s = stats.get('bn') as BatchStats;
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    expect(s.count).toBe(60);
    expect(maxAbsDiff(s.mean.dataSync(), mean.dataSync())).toBeLessThan(1e-5);
    expect(maxAbsDiff(s.variance.dataSync(), variance.dataSync())).toBeLessThan(1e-4);
    tf.dispose([x, dy, y, yRef, mean, variance, s.mean, s.variance, ...ours, ...ref, ...params.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('training batch norm refuses a single value per channel', () => {
    const bn = new BatchNorm('bn', 2);
    const params: ParamMap = new Map([
      ['bn.weight', tf.ones([2])],
      ['bn.bias', tf.zeros([2])],
    ]);
    const x = tf.ones([1, 1, 1, 2]) as Tensor4D;
    expect(() => bn.apply(x, context(params, true))).toThrow(/more than 1 value per channel/);
    tf.dispose([x, ...params.values()]);
  });

  it.each([
    [2, 1, 2],
    [3, 1, 4],
    [2, 2, 2],
  ] as [number, 1 | 2, number][])(
    'a dilation-%i depthwise conv (stride %i, pad %i) infers with the backend conv, as the differentiable op',
    (dilation, stride, pad) => {
      const dw = new Depthwise('dw', 6, 3, stride, pad, dilation);
      const params = initParams(dw.params, 7);
      const x = tf.randomNormal([2, 9, 11, 6], 0, 1, 'float32', 8) as Tensor4D;
      const filter = params.get('dw.weight') as Tensor4D;
      const before = tf.memory().numTensors;
      const inferred = tf.tidy(() => dw.apply(x, context(params, false)));
      expect(tf.memory().numTensors).toBe(before + 1);
      const reference = dilatedDepthwiseConv2d(x, filter, stride, dilation, pad);
      expect(inferred.shape).toEqual(reference.shape);
      expect(maxAbsDiff(inferred.dataSync(), reference.dataSync())).toBeLessThan(1e-5);
      // Inside a gradient (even with training off) the op with a gradient runs.
      const g = tf.grad((input: Tensor) => tf.sum(dw.apply(input as Tensor4D, context(params, false))))(x);
      const gRef = tf.grad((input: Tensor) =>
        tf.sum(dilatedDepthwiseConv2d(input as Tensor4D, filter, stride, dilation, pad)),
      )(x);
      expect(maxAbsDiff(g.dataSync(), gRef.dataSync())).toBeLessThan(1e-5);
      tf.dispose([x, inferred, reference, g, gRef]);
      for (const t of params.values()) t.dispose();
    },
  );

  it('1x1 and general convolutions match tf.conv2d with symmetric padding', () => {
    const before = tf.memory().numTensors;
    const x = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 41) as Tensor4D;
    for (const conv of [
      new Conv('c', 4, 6, [1, 1], [1, 1], [0, 0]),
      new Conv('c', 4, 6, [3, 3], [2, 2], [1, 1]),
      new Conv('c', 4, 6, [1, 7], [1, 2], [0, 3]),
    ]) {
      const params = initParams(conv.params, 3);
      const w = params.get('c.weight') as Tensor4D;
      const y = tf.tidy(() => conv.apply(x, context(params, false)));
      const ref = tf.tidy(() => {
        const padded = tf.pad(x, [
          [0, 0],
          [conv.pad[0], conv.pad[0]],
          [conv.pad[1], conv.pad[1]],
          [0, 0],
        ]);
        return tf.conv2d(padded as Tensor4D, w, [...conv.stride] as [number, number], 'valid');
      });
      expect(y.shape).toEqual([2, ...conv.trace([9, 9, 4]).shape]);
      expect(maxAbsDiff(y.dataSync(), ref.dataSync())).toBeLessThan(1e-5);
      tf.dispose([y, ref, ...params.values()]);
    }
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('FactorizedReduce concatenates the two shifted stride-2 convs and refuses odd sizes', () => {
    const before = tf.memory().numTensors;
    const fr = new FactorizedReduce('fr', 4, 6);
    const params = initParams(fr.params, 5);
    const x = tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 51) as Tensor4D;
    const y = tf.tidy(() => fr.apply(x, context(params, false)));
    const ref = tf.tidy(() => {
      const r = tf.relu(x);
      const a = tf.conv2d(r, params.get('fr.conv_1.weight') as Tensor4D, 2, 'valid');
      const b = tf.conv2d(tf.slice(r, [0, 1, 1, 0]), params.get('fr.conv_2.weight') as Tensor4D, 2, 'valid');
      // Fresh parameters: running mean 0, variance 1, weight 1, bias 0.
      return tf.div(tf.concat([a, b], 3), Math.sqrt(1 + 1e-5));
    });
    expect(y.shape).toEqual([2, 3, 3, 6]);
    expect(maxAbsDiff(y.dataSync(), ref.dataSync())).toBeLessThan(1e-5);
    expect(() => fr.trace([7, 6, 4])).toThrow(/fr: FactorizedReduce needs an even input size, got 7x6/);
    expect(() => new FactorizedReduce('odd', 4, 5)).toThrow(/even channel count, got 5/);
    tf.dispose([x, y, ref, ...params.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a checkpointed op gives the same output and gradients, records batch stats once, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const op = OPS.sep_conv_3x3(4, 2, 'e');
    const params = initParams(op.params, 7);
    const weights = op.params.filter((p) => p.kind === 'weight').map((p) => params.get(p.name) as Tensor);
    const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 61) as Tensor4D;
    const run = (recompute: boolean) => {
      const stats = new Map<string, BatchStats>();
      let calls = 0;
      const ctx = context(params, true, stats);
      const counting: ForwardContext = {
        ...ctx,
        recompute,
        recordBatchStats(name, s) {
          calls++;
          ctx.recordBatchStats(name, s);
        },
      };
      const { value, grads } = tf
        .engine()
        .gradients(
          () => tf.sum(tf.square(recompute ? checkpointed(op, x, counting) : op.apply(x, counting))),
          [x, ...weights],
          undefined,
          true,
        );
      const out = { value: value.dataSync()[0], grads: grads.map((g) => g.dataSync().slice()), calls };
      tf.dispose([value, ...grads]);
      for (const s of stats.values()) tf.dispose([s.mean, s.variance]);
      return out;
    };
    const plain = run(false);
    const recomputed = run(true);
    expect(recomputed.calls).toBe(plain.calls);
    expect(plain.calls).toBe(2);
    expect(Math.abs(recomputed.value - plain.value)).toBeLessThan(1e-5 * Math.abs(plain.value));
    plain.grads.forEach((g, i) => expect(maxAbsDiff(recomputed.grads[i], g)).toBeLessThan(1e-5));
    tf.dispose([x, ...params.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('windowOut', () => {
  it('follows PyTorch floor sizes and rejects windows larger than the input', () => {
    expect(windowOut('a', 32, 3, 2, 1)).toBe(16);
    expect(windowOut('a', 7, 3, 2, 1)).toBe(4);
    expect(windowOut('a', 8, 3, 1, 2, 2)).toBe(8);
    expect(() => windowOut('aux', 4, 5, 3, 0)).toThrow(/aux: input size 4 is too small for a 5-wide window/);
  });
});

describe.each(BACKENDS)(
  'inference: 1x1 conv + batch norm (+ ReLU) folded into one product on %s',
  (backend) => {
    beforeAll(async () => {
      await initBackend(backend);
    });

    /** Random running statistics, so the fold has something to fold. */
    function withStats(params: ParamMap, bn: string, c: number, seed: number): void {
      const set = (name: string, t: Tensor) => {
        params.get(name)?.dispose();
        params.set(name, t);
      };
      set(`${bn}.weight`, tf.randomUniform([c], 0.5, 1.5, 'float32', seed));
      set(`${bn}.bias`, tf.randomNormal([c], 0, 0.5, 'float32', seed + 1));
      set(`${bn}.running_mean`, tf.randomNormal([c], 0, 0.5, 'float32', seed + 2));
      set(`${bn}.running_var`, tf.randomUniform([c], 0.2, 2, 'float32', seed + 3));
    }

    it.each([
      ['relu, conv, bn (cell preprocessing)', 1, false],
      ['conv, bn, relu (middle of a separable conv)', 1, true],
      ['strided conv, bn', 2, false],
    ])('%s equals the layers one by one', (_label, stride, trailingRelu) => {
      const [cin, cout] = [12, 20];
      const layers: Module[] = [
        new Relu(),
        new Conv('c', cin, cout, [1, 1], [stride, stride], [0, 0]),
        new BatchNorm('bn', cout),
        ...(trailingRelu ? [new Relu()] : []),
      ];
      const seq = new Sequential(layers);
      const params = initParams(seq.params, 5);
      withStats(params, 'bn', cout, 11);
      const x = tf.randomNormal([2, 7, 9, cin], 0, 1, 'float32', 3) as Tensor4D;
      const ctx = context(params, false);
      const before = tf.memory().numTensors;
      const fused = tf.tidy(() => seq.apply(x, ctx));
      expect(tf.memory().numTensors).toBe(before + 1);
      let ref: Tensor4D = x;
      for (const layer of layers) ref = tf.tidy(() => layer.apply(ref, ctx));
      expect(fused.shape).toEqual(ref.shape);
      const scale = Math.max(...Array.from(ref.dataSync(), Math.abs));
      expect(maxAbsDiff(fused.dataSync(), ref.dataSync()) / scale).toBeLessThan(1e-5);
      if (trailingRelu) expect(Math.min(...Array.from(fused.dataSync()))).toBeGreaterThanOrEqual(0);
      tf.dispose([x, fused, ref]);
      for (const t of params.values()) t.dispose();
    });

    it('training mode keeps the layers apart (batch statistics, not running ones)', () => {
      const seq = new Sequential([new Conv('c', 4, 8, [1, 1], [1, 1], [0, 0]), new BatchNorm('bn', 8)]);
      const params = initParams(seq.params, 1);
      withStats(params, 'bn', 8, 21);
      const x = tf.randomNormal([2, 5, 5, 4], 0, 1, 'float32', 4) as Tensor4D;
      const stats = new Map<string, BatchStats>();
      const y = tf.tidy(() => seq.apply(x, context(params, true, stats)));
      expect(stats.has('bn')).toBe(true);
      // Batch statistics: each channel's output has the mean β (the running mean is not used).
      const means = tf.mean(y, [0, 1, 2]).dataSync();
      expect(maxAbsDiff(means, (params.get('bn.bias') as Tensor).dataSync())).toBeLessThan(1e-4);
      tf.dispose([x, y]);
      for (const s of stats.values()) tf.dispose([s.mean, s.variance]);
      for (const t of params.values()) t.dispose();
    });
  },
);
