// Every wasm training kernel against the cpu backend's reference implementation, on fresh random
// inputs: strides 1 and 2, kernels 1/3/5/7, odd and even sizes, batch 1 and several, numeric,
// 'same', 'valid' and explicit padding.
import { tf } from '../tf';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './index';
import { simdKernels } from './simd';
import { type HostArray, randomArray, relativeError, rng, runKernelOn, runKernelOutputs } from './test-util';

const TOLERANCE = 1e-4;
const SEED = Date.now() >>> 0;
const next = rng(SEED);

type Pad =
  'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  label: string;
  kernel: string;
  /** A list for kernels that take one (Concat). */
  inputs: Record<string, HostArray> | HostArray[];
  attrs: Record<string, unknown>;
}

function outSize(size: number, k: number, s: number, pad: Pad, axis: 1 | 2): number {
  if (pad === 'same') return Math.ceil(size / s);
  if (pad === 'valid') return Math.ceil((size - k + 1) / s);
  const [a, b] = typeof pad === 'number' ? [pad, pad] : pad[axis];
  return Math.floor((size + a + b - k) / s) + 1;
}

interface Geometry {
  n: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  pad: Pad;
}

function describeGeometry(g: Geometry): string {
  return `n${g.n} ${g.h}x${g.w} k${g.kh}x${g.kw} s${g.sh},${g.sw} pad ${JSON.stringify(g.pad)}`;
}

/** The grid the issue asks for, plus rectangular kernels, mixed strides and awkward paddings. */
function geometries(): Geometry[] {
  const out: Geometry[] = [];
  for (const k of [1, 3, 5, 7]) {
    for (const s of [1, 2]) {
      for (const [h, w] of [
        [7, 7],
        [8, 10],
      ]) {
        for (const pad of ['same', 'valid', k >> 1] as Pad[]) {
          for (const n of [1, 3]) {
            if (outSize(h, k, s, pad, 1) < 1 || outSize(w, k, s, pad, 2) < 1) continue;
            out.push({ n, h, w, kh: k, kw: k, sh: s, sw: s, pad });
          }
        }
      }
    }
  }
  // conv_7x1_1x7: 1x7 at stride (1, 2) padding (0, 3), then 7x1 at stride (2, 1) padding (3, 0).
  out.push({
    n: 2,
    h: 9,
    w: 9,
    kh: 1,
    kw: 7,
    sh: 1,
    sw: 2,
    pad: [
      [0, 0],
      [0, 0],
      [3, 3],
      [0, 0],
    ],
  });
  out.push({
    n: 2,
    h: 9,
    w: 5,
    kh: 7,
    kw: 1,
    sh: 2,
    sw: 1,
    pad: [
      [0, 0],
      [3, 3],
      [0, 0],
      [0, 0],
    ],
  });
  // Asymmetric padding, padding wider than the kernel, rows the forward pass never reads.
  out.push({
    n: 2,
    h: 6,
    w: 7,
    kh: 3,
    kw: 2,
    sh: 2,
    sw: 1,
    pad: [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  });
  out.push({ n: 1, h: 5, w: 6, kh: 3, kw: 3, sh: 2, sw: 2, pad: 4 });
  out.push({ n: 2, h: 9, w: 8, kh: 2, kw: 3, sh: 3, sw: 3, pad: 'valid' });
  out.push({ n: 2, h: 1, w: 1, kh: 1, kw: 1, sh: 2, sw: 2, pad: 0 });
  return out;
}

function convCases(): Case[] {
  const cases: Case[] = [];
  for (const g of geometries()) {
    const [ci, co] = [3, 4];
    const ho = outSize(g.h, g.kh, g.sh, g.pad, 1);
    const wo = outSize(g.w, g.kw, g.sw, g.pad, 2);
    const label = describeGeometry(g);
    const strides = [g.sh, g.sw];
    const dy = randomArray(next, [g.n, ho, wo, co]);
    cases.push({
      label,
      kernel: 'Conv2DBackpropFilter',
      inputs: { x: randomArray(next, [g.n, g.h, g.w, ci]), dy },
      attrs: { strides, pad: g.pad, dataFormat: 'NHWC', filterShape: [g.kh, g.kw, ci, co] },
    });
    cases.push({
      label,
      kernel: 'Conv2DBackpropInput',
      inputs: { dy, filter: randomArray(next, [g.kh, g.kw, ci, co]) },
      attrs: { strides, pad: g.pad, dataFormat: 'NHWC', inputShape: [g.n, g.h, g.w, ci] },
    });
    // The SIMD filter gradient: input channels in fours and not, 4x8 and 4x4 output blocks, and
    // more input channels than it takes (the XNNPACK route).
    for (const [cin, cout] of g.kh === 3 || g.kh === 5
      ? [
          [8, 12],
          [5, 20],
          [17, 8],
        ]
      : []) {
      cases.push({
        label: `${label} ${cin} -> ${cout} channels`,
        kernel: 'Conv2DBackpropFilter',
        inputs: { x: randomArray(next, [g.n, g.h, g.w, cin]), dy: randomArray(next, [g.n, ho, wo, cout]) },
        attrs: { strides, pad: g.pad, dataFormat: 'NHWC', filterShape: [g.kh, g.kw, cin, cout] },
      });
    }
    for (const mult of g.n === 3 && g.kh === 3 ? [1, 2] : [1]) {
      const c = 3;
      const dyd = randomArray(next, [g.n, ho, wo, c * mult]);
      const dw = { strides, pad: g.pad, dilations: [1, 1] };
      cases.push({
        label: `${label} multiplier ${mult}`,
        kernel: 'DepthwiseConv2dNativeBackpropFilter',
        inputs: { x: randomArray(next, [g.n, g.h, g.w, c]), dy: dyd },
        attrs: { ...dw, filterShape: [g.kh, g.kw, c, mult] },
      });
      cases.push({
        label: `${label} multiplier ${mult}`,
        kernel: 'DepthwiseConv2dNativeBackpropInput',
        inputs: { dy: dyd, filter: randomArray(next, [g.kh, g.kw, c, mult]) },
        attrs: { ...dw, inputShape: [g.n, g.h, g.w, c] },
      });
    }
    // The forward kernel: 16-channel blocks, 4-channel groups and both (SIMD, multiplier 1),
    // dilated taps where the stride is 1; channels not in fours and a multiplier of 2 go to the
    // package's kernel.
    for (const [c, mult, dilation] of [
      [4, 1, 1],
      [16, 1, 1],
      [36, 1, 1],
      [3, 1, 1],
      [2, 2, 1],
      ...(g.sh === 1 && g.kh === 3 ? [[20, 1, 2]] : []),
    ]) {
      cases.push({
        label: `${label} ${c} channels, multiplier ${mult}, dilation ${dilation}`,
        kernel: 'DepthwiseConv2dNative',
        inputs: {
          x: randomArray(next, [g.n, g.h, g.w, c]),
          filter: randomArray(next, [g.kh, g.kw, c, mult]),
        },
        attrs: { strides, pad: g.pad, dilations: [dilation, dilation], dataFormat: 'NHWC' },
      });
    }
    // The SIMD filter gradient takes four channels a lane group and sixteen channels four groups at
    // a time: whole groups, groups plus a tail, fours of groups plus single groups and a tail.
    for (const c of g.kh === 3 ? [4, 9, 16, 39] : []) {
      cases.push({
        label: `${label} ${c} channels`,
        kernel: 'DepthwiseConv2dNativeBackpropFilter',
        inputs: { x: randomArray(next, [g.n, g.h, g.w, c]), dy: randomArray(next, [g.n, ho, wo, c]) },
        attrs: { strides, pad: g.pad, dilations: [1, 1], filterShape: [g.kh, g.kw, c, 1] },
      });
    }
    if (g.kh <= 3) {
      const c = 2;
      const pool = { filterSize: [g.kh, g.kw], strides, pad: g.pad };
      cases.push({
        label,
        kernel: 'AvgPoolGrad',
        inputs: { dy: randomArray(next, [g.n, ho, wo, c]), input: randomArray(next, [g.n, g.h, g.w, c]) },
        attrs: pool,
      });
      // Ties decide where a max-pool gradient goes: also try inputs of only -1, 0 and 1. Channels
      // in fours take the SIMD kernel, others the loop.
      for (const [ties, channels] of [
        [false, c],
        [true, c],
        [true, 8],
      ] as const) {
        const input = randomArray(next, [g.n, g.h, g.w, channels]);
        if (ties) input.data.forEach((v, i) => (input.data[i] = Math.round(v)));
        cases.push({
          label: `${label}${ties ? ' with ties' : ''}, ${channels} channels`,
          kernel: 'MaxPoolGrad',
          inputs: { dy: randomArray(next, [g.n, ho, wo, channels]), input },
          attrs: pool,
        });
      }
    }
  }
  // Max pools over a -inf border (how a pool that must never pick its padding is built), and
  // over infinite values.
  for (const [k, stride, c] of [
    [3, 1, 3],
    [3, 2, 3],
    [2, 2, 3],
    [3, 1, 4],
    [2, 2, 8],
  ]) {
    const input = randomArray(next, [2, 9, 8, c]);
    input.data.forEach((_, i) => {
      const [row, col] = [Math.floor(i / (8 * c)) % 9, Math.floor(i / c) % 8];
      if (row === 0 || col === 0 || row === 8 || col === 7) input.data[i] = -Infinity;
      else if (i % 17 === 0) input.data[i] = Infinity;
    });
    const ho = Math.ceil((9 - k + 1) / stride);
    const wo = Math.ceil((8 - k + 1) / stride);
    cases.push({
      label: `-inf border and inf values, k${k} s${stride} valid, ${c} channels`,
      kernel: 'MaxPoolGrad',
      inputs: { dy: randomArray(next, [2, ho, wo, c]), input },
      attrs: { filterSize: k, strides: stride, pad: 'valid' },
    });
  }
  // Rounding of a fractional output size, and the NCHW layout of Conv2DBackpropInput.
  cases.push({
    label: 'pad 1, dimRoundingMode ceil',
    kernel: 'Conv2DBackpropFilter',
    inputs: { x: randomArray(next, [2, 8, 8, 3]), dy: randomArray(next, [2, 5, 5, 2]) },
    attrs: { strides: 2, pad: 1, dataFormat: 'NHWC', dimRoundingMode: 'ceil', filterShape: [3, 3, 3, 2] },
  });
  cases.push({
    label: 'NCHW, k3 s2 same',
    kernel: 'Conv2DBackpropInput',
    inputs: { dy: randomArray(next, [2, 4, 4, 4]), filter: randomArray(next, [3, 3, 3, 4]) },
    attrs: { strides: 2, pad: 'same', dataFormat: 'NCHW', inputShape: [2, 3, 7, 8] },
  });
  for (const [aShape, bShape] of [
    [
      [7, 5],
      [5, 3],
    ],
    [
      [1, 9, 4],
      [1, 4, 6],
    ],
    [
      [3, 7, 5],
      [5, 2],
    ],
    [
      [2, 3, 4, 5],
      [1, 5, 6],
    ],
    [
      [3, 4, 5],
      [3, 5, 2],
    ],
    [
      [1, 1],
      [1, 8],
    ],
    // Columns in fours (the SIMD products): 4x8 and 4x4 blocks, rows past the last multiple of
    // 4, a batch of a against one b.
    [
      [37, 13],
      [13, 12],
    ],
    [
      [2, 9, 20],
      [20, 8],
    ],
    [
      [3, 1, 5],
      [5, 4],
    ],
    // Transposed a with 4 | its columns and b's (the SIMD kernels), long inner axes in chunks.
    [
      [16, 40],
      [40, 16],
    ],
    [
      [1, 12, 50],
      [1, 50, 8],
    ],
    [
      [8, 3000],
      [3000, 24],
    ],
    [
      [4, 700],
      [700, 12],
    ],
  ]) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const swapLast = (shape: number[], t: boolean) =>
          t ? [...shape.slice(0, -2), shape.at(-1)!, shape.at(-2)!] : shape;
        cases.push({
          label: `[${aShape}] x [${bShape}] transposeA ${transposeA} transposeB ${transposeB}`,
          kernel: 'BatchMatMul',
          inputs: {
            a: randomArray(next, swapLast(aShape, transposeA)),
            b: randomArray(next, swapLast(bShape, transposeB)),
          },
          attrs: { transposeA, transposeB },
        });
      }
    }
  }
  // Fused products (bias, activation), rank 3 as tf.fused.matMul hands them over: the SIMD path
  // for columns in fours (rows past a multiple of four, a 4-column block, a batch of a), with and
  // without a bias, linear and ReLU; transposed operands and a batch of b (the package gets them
  // wrong with a bias: they are rewritten as plain products); other activations, columns not in
  // fours.
  for (const [aShape, bShape] of [
    [
      [1, 6, 16],
      [1, 16, 8],
    ],
    [
      [2, 5, 12],
      [1, 12, 12],
    ],
    [
      [2, 5, 12],
      [2, 12, 12],
    ],
    [
      [1, 9, 7],
      [1, 7, 20],
    ],
    [
      [1, 8, 40],
      [1, 40, 24],
    ],
    [
      [1, 3, 5],
      [1, 5, 6],
    ],
  ]) {
    const n = bShape[2];
    for (const [withBias, activation, transposeA, transposeB] of [
      [true, 'relu', false, false],
      [true, 'linear', false, false],
      [false, 'relu', false, false],
      [false, 'linear', false, false],
      [true, 'elu', false, false],
      [true, 'relu', false, true],
      [true, 'linear', true, false],
      [false, 'elu', true, true],
    ] as [boolean, string, boolean, boolean][]) {
      const swap = (shape: number[], t: boolean) => (t ? [shape[0], shape[2], shape[1]] : shape);
      cases.push({
        label: `[${aShape}] x [${bShape}] ${withBias ? 'bias' : 'no bias'} ${activation} transposeA ${transposeA} transposeB ${transposeB}`,
        kernel: '_FusedMatMul',
        inputs: {
          a: randomArray(next, swap(aShape, transposeA)),
          b: randomArray(next, swap(bShape, transposeB)),
          ...(withBias ? { bias: randomArray(next, [n]) } : {}),
        },
        attrs: { transposeA, transposeB, activation, leakyreluAlpha: 0.2 },
      });
    }
  }
  // Concat and SplitV along every axis of ranks 1 to 5: equal parts (the transposing path) and
  // unequal ones, outermost axes, single parts and empty tensors (the package's kernels).
  for (let i = 0; i < 24; i++) {
    const rank = 1 + (i % 5);
    const axis = i % rank;
    const k = 1 + (i % 4);
    const shape = Array.from({ length: rank }, (_, d) => 1 + ((i + 2 * d) % 4));
    if (i === 7) shape[(axis + 1) % rank] = 0;
    const unequal = i % 3 === 2;
    const parts = Array.from({ length: k }, (_, p) => {
      const s = [...shape];
      if (unequal) s[axis] = 1 + ((p + i) % 3);
      return randomArray(next, s);
    });
    const label = `${parts.map((p) => `[${p.shape}]`).join(' ')} axis ${axis}`;
    cases.push({ label, kernel: 'Concat', inputs: parts, attrs: { axis } });
    const whole = [...shape];
    whole[axis] = parts.reduce((a, p) => a + p.shape[axis], 0);
    cases.push({
      label: `[${whole}] into ${unequal ? `[${parts.map((p) => p.shape[axis])}]` : k} along axis ${axis}`,
      kernel: 'SplitV',
      inputs: { x: randomArray(next, whole) },
      attrs: { numOrSizeSplits: unequal ? parts.map((p) => p.shape[axis]) : k, axis },
    });
  }
  // Runs of whole vectors (copyRuns): a cell's four-way channel concatenation and its split, three
  // parts of 5x8 values along a middle axis; and runs of 3 and 6 values (the transposing path).
  for (const [shape, axis, k] of [
    [[2, 3, 3, 16], 3, 4],
    [[3, 5, 8], 1, 3],
    [[2, 3, 3, 12], 3, 2],
    [[4, 3, 3], 2, 4],
    [[2, 2, 6], 2, 3],
  ] as [number[], number, number][]) {
    const parts = Array.from({ length: k }, () => randomArray(next, shape));
    cases.push({ label: `${k} x [${shape}] axis ${axis}`, kernel: 'Concat', inputs: parts, attrs: { axis } });
    const whole = shape.map((n, d) => (d === axis ? k * n : n));
    cases.push({
      label: `[${whole}] into ${k} along axis ${axis}`,
      kernel: 'SplitV',
      inputs: { x: randomArray(next, whole) },
      attrs: { numOrSizeSplits: k, axis },
    });
  }
  // Slice on ranks 1 to 5: contiguous and strided, runs of 1 to 40 values, empty results.
  for (let i = 0; i < 24; i++) {
    const rank = 1 + (i % 5);
    const shape = Array.from({ length: rank }, (_, d) =>
      d === rank - 1 ? [1, 3, 9, 40][i % 4] : 2 + ((i + d) % 4),
    );
    const begin = shape.map((n, d) => ((d + i) % 2 === 0 ? 0 : Math.min(1, n - 1)));
    const size = shape.map((n, d) =>
      i === 5 && d === 0 ? 0 : (d + i) % 3 === 0 ? -1 : Math.max(1, n - begin[d] - 1),
    );
    cases.push({
      label: `[${shape}] begin [${begin}] size [${size}]`,
      kernel: 'Slice',
      inputs: { x: randomArray(next, shape) },
      attrs: { begin, size },
    });
  }
  // Transpose: matrix transposes hidden among size-1 axes (the blocked path), row counts with and
  // without small divisors, and other permutations (the package's kernel).
  for (let i = 0; i < 22; i++) {
    const rows = [2, 6, 7, 64, 96, 130, 131][i % 7];
    const cols = [1, 3, 16][i % 3];
    const shape = i % 2 === 0 ? [rows, cols] : [1, rows, 1, cols];
    const perm = i % 2 === 0 ? [1, 0] : i % 4 === 1 ? [3, 2, 0, 1] : [0, 3, 1, 2];
    const other = i >= 18;
    cases.push({
      label: `[${other ? [2, rows, 3] : shape}] perm [${other ? [2, 0, 1] : perm}]`,
      kernel: 'Transpose',
      inputs: { x: randomArray(next, other ? [2, rows, 3] : shape) },
      attrs: { perm: other ? [2, 0, 1] : perm },
    });
  }
  // Cast to float32 from float32 (shared) on every rank up to 4; the harness makes float32 inputs,
  // so conversions are checked below.
  for (let i = 0; i < 20; i++) {
    const shape = Array.from({ length: i % 5 }, (_, d) => 1 + ((i + d) % 4));
    cases.push({
      label: `[${shape}]`,
      kernel: 'Cast',
      inputs: { x: randomArray(next, shape) },
      attrs: { dtype: 'float32' },
    });
  }
  // Identity on every rank up to 5, empty tensors included.
  for (let i = 0; i < 20; i++) {
    const rank = i % 6;
    const shape = Array.from({ length: rank }, (_, d) => (i === 5 && d === 0 ? 0 : 1 + ((i + 3 * d) % 5)));
    cases.push({
      label: `[${shape}]`,
      kernel: 'Identity',
      inputs: { x: randomArray(next, shape) },
      attrs: {},
    });
  }
  return cases;
}

async function numDataIdsOnWasm(): Promise<number> {
  await tf.setBackend('wasm');
  return tf.engine().backend.numDataIds();
}

describe('wasm training kernels', () => {
  beforeAll(async () => {
    registerWasmTrainingKernels();
    expect(await tf.setBackend('wasm')).toBe(true);
  });

  const cases = convCases();

  it('cover every kernel they register with at least 20 cases', () => {
    for (const config of WASM_TRAINING_KERNELS) {
      expect(cases.filter((c) => c.kernel === config.kernelName).length).toBeGreaterThanOrEqual(20);
    }
  });

  for (const kernel of WASM_TRAINING_KERNELS.map((c) => c.kernelName)) {
    it(`${kernel} matches the cpu backend within ${TOLERANCE} and frees its intermediates`, async () => {
      const idsBefore = await numDataIdsOnWasm();
      const tensorsBefore = tf.memory().numTensors;
      const failures: string[] = [];
      for (const c of cases.filter((k) => k.kernel === kernel)) {
        if (kernel === 'MaxPoolGrad' && !Array.isArray(c.inputs)) {
          // MaxPoolGrad also takes the forward output; both backends get the one cpu computes.
          c.inputs.output = await runKernelOn('cpu', 'MaxPool', { x: c.inputs.input }, c.attrs);
        }
        const expected = await runKernelOutputs('cpu', c.kernel, c.inputs, c.attrs);
        const actual = await runKernelOutputs('wasm', c.kernel, c.inputs, c.attrs);
        if (actual.length !== expected.length) {
          failures.push(`${c.label}: ${actual.length} outputs vs ${expected.length}`);
        }
        expected.forEach((e, i) => {
          const a = actual[i] ?? { shape: [], data: new Float32Array(0) };
          const err = relativeError(a.data, e.data);
          if (a.shape.join() !== e.shape.join() || !(err < TOLERANCE)) {
            failures.push(
              `${c.label} output ${i}: shape [${a.shape}] vs [${e.shape}], relative error ${err}`,
            );
          }
        });
      }
      expect({ seed: SEED, failures }).toEqual({ seed: SEED, failures: [] });
      expect(await numDataIdsOnWasm()).toBe(idsBefore);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });
  }

  it('registration is idempotent and silent', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      registerWasmTrainingKernels();
      registerWasmTrainingKernels();
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
    for (const config of WASM_TRAINING_KERNELS) {
      expect(tf.getKernel(config.kernelName, 'wasm')?.kernelFunc).toBe(config.kernelFunc);
    }
  });

  it('have their SIMD kernels on this runtime (so the cases above ran them)', async () => {
    await tf.setBackend('wasm');
    expect(simdKernels(tf.backend() as BackendWasm)).not.toBeNull();
  });

  it("ReLU's gradient is one pass on wasm, equal to the cpu backend's dy * step(x)", async () => {
    // Sizes with and without a tail past the last four values; zeros and negatives in x.
    for (const shape of [[2, 5, 7, 4], [3, 3, 3], [1], [0, 4]]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const xs = Array.from({ length: size }, (_, i) => (i % 5 === 0 ? 0 : next() * 2 - 1));
      const dys = Array.from({ length: size }, () => next() * 2 - 1);
      const grads: Record<string, Float32Array> = {};
      for (const backend of ['cpu', 'wasm']) {
        await tf.setBackend(backend);
        const before = tf.memory().numTensors;
        const x = tf.tensor(xs, shape);
        const dy = tf.tensor(dys, shape);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), dy)))(x);
        grads[backend] = g.dataSync() as Float32Array;
        tf.dispose([x, dy, g]);
        expect(tf.memory().numTensors).toBe(before);
      }
      // Equal values; where dy < 0 and x <= 0 the cpu backend's product is -0, the kernel's +0.
      const plain = (v: Float32Array) => Array.from(v, (e) => (e === 0 ? 0 : e));
      expect(plain(grads.wasm)).toEqual(plain(grads.cpu));
    }
    // A NaN input passes no gradient on wasm, as in PyTorch (tfjs's step would give NaN).
    await tf.setBackend('wasm');
    const x = tf.tensor([NaN, 1, -1, 0, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x);
    expect(Array.from(g.dataSync())).toEqual([0, 1, 0, 0, 1]);
    tf.dispose([x, g]);
  });

  it('Identity shares the data, which lives until its last reference is disposed', async () => {
    const idsBefore = await numDataIdsOnWasm();
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    const z = tf.add(y, 1);
    expect(Array.from(z.dataSync())).toEqual([2, 3, 4, 5]);
    tf.dispose([y, z]);
    expect(await numDataIdsOnWasm()).toBe(idsBefore);
  });

  it('Cast converts between types with the package kernel and shares same-type data', async () => {
    await tf.setBackend('wasm');
    const idsBefore = await numDataIdsOnWasm();
    const x = tf.tensor([1.7, -2.2, 0, 3.5]);
    const same = tf.cast(x, 'float32');
    expect(same.dataId).toBe(x.dataId);
    const ints = tf.cast(x, 'int32');
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.dataSync())).toEqual([1, -2, 0, 3]);
    tf.dispose([x, same, ints]);
    expect(await numDataIdsOnWasm()).toBe(idsBefore);
  });

  it('gives empty inputs zero gradients of the right shape', async () => {
    const out = await runKernelOn(
      'wasm',
      'Conv2DBackpropFilter',
      {
        x: { shape: [0, 4, 4, 2], data: new Float32Array(0) },
        dy: { shape: [0, 4, 4, 3], data: new Float32Array(0) },
      },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] },
    );
    expect(out.shape).toEqual([3, 3, 2, 3]);
    expect(Array.from(out.data).every((v) => v === 0)).toBe(true);
    const dx = await runKernelOn(
      'wasm',
      'DepthwiseConv2dNativeBackpropInput',
      { dy: { shape: [0, 2, 2, 2], data: new Float32Array(0) }, filter: randomArray(next, [3, 3, 2, 1]) },
      { strides: 2, pad: 'same', dilations: 1, inputShape: [0, 4, 4, 2] },
    );
    expect(dx.shape).toEqual([0, 4, 4, 2]);
  });

  describe('reject bad input with an error naming the field and value', () => {
    const x = () => randomArray(next, [1, 5, 5, 2]);
    const dy = () => randomArray(next, [1, 5, 5, 3]);
    const base = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };

    it.each([
      [
        'dy of the wrong shape',
        'Conv2DBackpropFilter',
        { x: x(), dy: randomArray(next, [1, 4, 5, 3]) },
        base,
        /dy has shape \[1, 4, 5, 3\]/,
      ],
      [
        'a filter shape with the wrong channels',
        'Conv2DBackpropFilter',
        { x: x(), dy: dy() },
        { ...base, filterShape: [3, 3, 4, 3] },
        /input channels 2 do not match filter shape \[3, 3, 4, 3\]/,
      ],
      [
        'a negative filter size',
        'Conv2DBackpropFilter',
        { x: x(), dy: dy() },
        { ...base, filterShape: [-1, 3, 2, 3] },
        /filter height must be positive integers, got -1/,
      ],
      [
        'a negative padding',
        'Conv2DBackpropFilter',
        { x: x(), dy: randomArray(next, [1, 1, 1, 3]) },
        { ...base, pad: -2 },
        /padding must be non-negative integers, got -2/,
      ],
      [
        'an unknown data format',
        'Conv2DBackpropFilter',
        { x: x(), dy: dy() },
        { ...base, dataFormat: 'NWHC' },
        /dataFormat must be 'NHWC', got 'NWHC'/,
      ],
      [
        'a rank-3 input',
        'Conv2DBackpropFilter',
        { x: randomArray(next, [5, 5, 2]), dy: dy() },
        base,
        /x must be rank 4 \(NHWC\), got shape \[5, 5, 2\]/,
      ],
      [
        // Dilated taps only on the SIMD route (channel multiplier 1); the composed one refuses.
        'dilations above 1 with a channel multiplier',
        'DepthwiseConv2dNativeBackpropFilter',
        { x: x(), dy: randomArray(next, [1, 5, 5, 4]) },
        { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 2, 2] },
        /dilations must be 1 for the gradient kernels, got \[2, 2\]/,
      ],
      [
        'a fractional stride',
        'DepthwiseConv2dNativeBackpropInput',
        { dy: randomArray(next, [1, 5, 5, 2]), filter: randomArray(next, [3, 3, 2, 1]) },
        { strides: 1.5, pad: 'same', dilations: 1, inputShape: [1, 5, 5, 2] },
        /strides must be positive integers, got 1.5/,
      ],
    ])('%s', async (_what, kernel, inputs, attrs, message) => {
      const before = await numDataIdsOnWasm();
      await expect(runKernelOn('wasm', kernel, inputs, attrs)).rejects.toThrow(message);
      expect(await numDataIdsOnWasm()).toBe(before);
    });

    it('an int32 input', async () => {
      await tf.setBackend('wasm');
      const xi = tf.zeros([1, 5, 5, 2], 'int32');
      const d = tf.zeros([1, 5, 5, 3]);
      expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: xi, dy: d }, base)).toThrow(
        /input 'x' must be float32, got int32/,
      );
      tf.dispose([xi, d]);
    });
  });
});
