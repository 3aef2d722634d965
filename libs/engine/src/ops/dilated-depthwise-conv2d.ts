// Dilated depthwise convolution with gradients on every backend. tfjs runs dilated convolutions
// forward but has no gradient for them, so the dilation is rewritten into ordinary ones
// (RELATIVENAS.md section 9), built only from ops that are differentiable everywhere.
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from '../kernels/simd';
import { tf } from '../tf';

type Pads4 = [[number, number], [number, number], [number, number], [number, number]];

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`dilatedDepthwiseConv2d: ${message}`);
}

function spatialPads(top: number, bottom: number, left: number, right: number): Pads4 {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * Stride-1 dilated convolution as d*d ordinary ones: output row o*d + r reads input rows
 * o*d + r + d*t, i.e. rows o + t of phase r (the rows congruent to r mod d). The padded input
 * (rounded up to a multiple of d) is split into its phases along the batch, convolved without
 * dilation, and the outputs interleaved back. Only rank-4 transposes are used: the wasm
 * backend's rank-6 transpose is a generic loop 50x slower.
 */
function byPhases(x: Tensor4D, filter: Tensor4D, d: number, pad: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  const [kh, kw] = filter.shape;
  const outH = h + 2 * pad - d * (kh - 1);
  const outW = w + 2 * pad - d * (kw - 1);
  const hq = Math.ceil((h + 2 * pad) / d);
  const wq = Math.ceil((w + 2 * pad) / d);
  const padded = tf.pad(x, spatialPads(pad, hq * d - h - pad, pad, wq * d - w - pad));
  // [n, hq*d, wq*d, c] -> [d(row phase), n, hq, wq*d*c] -> [d(col phase), d*n*hq, wq, c]
  const rowPhases = tf.transpose(tf.reshape(padded, [n, hq, d, wq * d * c]), [2, 0, 1, 3]);
  const phases = tf.transpose(tf.reshape(rowPhases, [d * n * hq, wq, d, c]), [2, 0, 1, 3]);
  const convolved = tf.depthwiseConv2d(
    tf.reshape(phases, [d * d * n, hq, wq, c]) as Tensor4D,
    filter,
    1,
    'valid',
  );
  const [oh, ow] = [hq - kh + 1, wq - kw + 1];
  const cOut = c * filter.shape[3];
  // Inverse of the split: [d(col), d*n*oh, ow, c] -> [d(row), n, oh, ow*d*c] -> [n, oh*d, ow*d, c]
  const colsBack = tf.transpose(tf.reshape(convolved, [d, d * n * oh, ow, cOut]), [1, 2, 0, 3]);
  const rowsBack = tf.transpose(tf.reshape(colsBack, [d, n, oh, ow * d * cOut]), [1, 2, 0, 3]);
  const out = tf.reshape(rowsBack, [n, oh * d, ow * d, cOut]) as Tensor4D;
  // Rounding the input up to a multiple of d adds (up to d-1) output rows that read zeros only.
  return oh * d === outH && ow * d === outW ? out : tf.slice(out, [0, 0, 0, 0], [n, outH, outW, cOut]);
}

/**
 * Where the backend's own dilated convolution has gradients here: wasm, whose
 * DepthwiseConv2dNativeBackpropFilter (ours, with the SIMD kernels) reads dilated taps, for a
 * channel multiplier of 1 (the cpu backend's kernel ignores the dilation, and tfs-node is not
 * needed: the phases are ordinary convolutions there too).
 */
function nativeDilatedGradients(filter: Tensor4D): boolean {
  return (
    tf.getBackend() === 'wasm' &&
    filter.shape[3] === 1 &&
    tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm') !== undefined &&
    simdKernels(tf.backend() as BackendWasm) !== null
  );
}

/**
 * Stride-1 dilated convolution as the backend's own (one pass, XNNPACK's on wasm) with its
 * gradients: dx is the dilated convolution of dy, padded by d(k-1) - pad, with the filter
 * rotated by 180 degrees; dW is the filter-gradient kernel at the same dilation. Equal to the
 * phase rewrite (byPhases) up to summation order, without its four transposes and pads each way.
 */
function nativeDilated(x: Tensor4D, filter: Tensor4D, d: number, pad: number): Tensor4D {
  const [kh, kw] = filter.shape;
  const [ph, pw] = [d * (kh - 1) - pad, d * (kw - 1) - pad];
  const op = tf.customGrad((...args) => {
    const [input, weights, save] = args as [Tensor4D, Tensor4D, (saved: Tensor4D[]) => void];
    save([input, weights]);
    return {
      value: tf.depthwiseConv2d(input, weights, 1, pad, 'NHWC', d),
      // tfjs runs a custom gradient outside any scope of its own: the tidy frees the temporaries.
      gradFunc: (dy: Tensor4D, saved: Tensor[]) =>
        tf.tidy(() => {
          const [xs, ws] = saved as Tensor4D[];
          const spread = tf.pad(dy, spatialPads(ph, ph, pw, pw));
          const dx = tf.depthwiseConv2d(spread, tf.reverse(ws, [0, 1]), 1, 'valid', 'NHWC', d);
          const dw = tf
            .engine()
            .runKernel(
              'DepthwiseConv2dNativeBackpropFilter',
              { x: xs, dy },
              { strides: 1, pad, dilations: d, filterShape: ws.shape },
            ) as Tensor4D;
          return [dx, dw];
        }),
    };
  });
  return op(x, filter) as Tensor4D;
}

/**
 * `x[:, ::2, ::2]` of the zero-padded input, as a 1x1 depthwise convolution of ones at stride 2:
 * its gradient is a transposed convolution, which is fast on every backend (a strided slice has
 * no gradient in tfjs, and a reshape-and-slice costs JavaScript copies on wasm).
 */
function everyOtherPixel(x: Tensor4D, pad: number): Tensor4D {
  const ones = tf.ones([1, 1, x.shape[3], 1]) as Tensor4D;
  const padded = pad === 0 ? x : tf.pad(x, spatialPads(pad, pad, pad, pad));
  return tf.depthwiseConv2d(padded, ones, 2, 'valid');
}

/** The filter with d-1 zero taps between its taps: a dilation-d filter as an ordinary one. */
function spreadFilter(filter: Tensor4D, d: number): Tensor4D {
  const [kh, kw, c, m] = filter.shape;
  const spread = tf.pad(tf.reshape(filter, [kh, 1, kw, 1, c * m]), [
    [0, 0],
    [0, d - 1],
    [0, 0],
    [0, d - 1],
    [0, 0],
  ]);
  const full = tf.reshape(spread, [kh * d, kw * d, c, m]) as Tensor4D;
  return tf.slice(full, [0, 0, 0, 0], [(kh - 1) * d + 1, (kw - 1) * d + 1, c, m]);
}

/**
 * Depthwise convolution of `x` (NHWC) with `filter` ([kh, kw, C, multiplier]) at `stride` 1 or 2,
 * `dilation` >= 1 and symmetric zero padding `pad`, as PyTorch's
 * `Conv2d(C, C*multiplier, k, stride, pad, dilation, groups=C, bias=False)`:
 * out = floor((size + 2*pad - dilation*(k-1) - 1) / stride) + 1 per spatial axis.
 * Differentiable with respect to `x` and `filter` on every backend.
 */
export function dilatedDepthwiseConv2d(
  x: Tensor4D,
  filter: Tensor4D,
  stride: 1 | 2,
  dilation: number,
  pad: number,
): Tensor4D {
  check(x instanceof tf.Tensor && x.rank === 4, `x must be a rank-4 NHWC tensor, got ${describe(x)}`);
  check(
    filter instanceof tf.Tensor && filter.rank === 4,
    `filter must be a rank-4 [kh, kw, C, multiplier] tensor, got ${describe(filter)}`,
  );
  check(x.dtype === 'float32', `x must be float32, got ${x.dtype}`);
  check(filter.dtype === 'float32', `filter must be float32, got ${filter.dtype}`);
  check(
    filter.shape[2] === x.shape[3],
    `filter has ${filter.shape[2]} input channels (shape [${filter.shape.join(', ')}]) but x has ` +
      `${x.shape[3]} (shape [${x.shape.join(', ')}])`,
  );
  check(
    filter.shape.every((d) => d > 0),
    `filter shape must be positive, got [${filter.shape.join(', ')}]`,
  );
  check(stride === 1 || stride === 2, `stride must be 1 or 2, got ${String(stride)}`);
  check(Number.isInteger(dilation) && dilation >= 1, `dilation must be an integer >= 1, got ${dilation}`);
  check(Number.isInteger(pad) && pad >= 0, `pad must be an integer >= 0, got ${pad}`);
  const [, h, w] = x.shape;
  const [kh, kw] = filter.shape;
  const outH = Math.floor((h + 2 * pad - dilation * (kh - 1) - 1) / stride) + 1;
  const outW = Math.floor((w + 2 * pad - dilation * (kw - 1) - 1) / stride) + 1;
  check(
    outH >= 1 && outW >= 1,
    `a ${kh}x${kw} filter with dilation ${dilation} does not fit a ${h}x${w} input padded by ${pad}`,
  );
  check(x.size > 0, `x is empty (shape [${x.shape.join(', ')}])`);

  return tf.tidy(() => {
    const fits = pad <= dilation * (Math.min(kh, kw) - 1);
    if (dilation > 1 && stride === 1 && fits && nativeDilatedGradients(filter)) {
      return nativeDilated(x, filter, dilation, pad);
    }
    if (dilation === 1) {
      const padded = pad === 0 ? x : tf.pad(x, spatialPads(pad, pad, pad, pad));
      return tf.depthwiseConv2d(padded, filter, stride, 'valid');
    }
    if (stride === 1) return byPhases(x, filter, dilation, pad);
    if (dilation % 2 === 0) {
      // Output o reads padded rows 2o + dilation*t = 2(o + (dilation/2)t): the even rows only.
      const even = everyOtherPixel(x, pad);
      return dilation === 2
        ? tf.depthwiseConv2d(even, filter, 1, 'valid')
        : byPhases(even, filter, dilation / 2, 0);
    }
    const padded = pad === 0 ? x : tf.pad(x, spatialPads(pad, pad, pad, pad));
    return tf.depthwiseConv2d(padded, spreadFilter(filter, dilation), 2, 'valid');
  });
}

function describe(t: unknown): string {
  if (t instanceof tf.Tensor) return `shape [${t.shape.join(', ')}]`;
  return t === null ? 'null' : typeof t;
}
