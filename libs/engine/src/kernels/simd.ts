// WebAssembly SIMD kernels that work on the wasm backend's own heap, for what its kernels do
// poorly in a training step:
//
// - the depthwise filter gradient, a per-channel dot product of two large tensors (as a depthwise
//   convolution with a [Ho, Wo] "filter", XNNPACK falls back to one tiny matrix product per
//   channel and reaches ~1 GFLOP/s);
// - the weight gradient of a 1x1 convolution, x^T dy over a long pixel axis (XNNPACK's matrix
//   product needs x transposed first and packs dy, both full passes over large tensors, before a
//   product with few rows);
// - routing a max pool's gradient to the first maximum of each window (a compare per pixel, which
//   no XNNPACK kernel offers);
// - batch norm's per-channel sums and its normalisation, one pass each (as tfjs ops, a broadcast
//   per step: centring, squaring, scaling, shifting, each a pass over the tensor).
//
// The module is emitted here, instruction by instruction, rather than compiled from C, so that
// no toolchain is needed; it imports the backend's memory and reads and writes tensors in place.
// Addresses and strides are in bytes:
//
//   mac(x, dy, acc, count, c, xStride, dyStride)
//     for j in [0, c): acc[j] += sum over i < count of x[i*xStride + j] * dy[i*dyStride + j]
//     four channels at a time in f32x4 lanes, the last c % 4 one at a time;
//   gemmTN(a, b, out, count, aStride, bStride, outStride)
//     for r in [0, 4), j in [0, 8): out[r*outStride + j] += sum over i < count of
//       a[i*aStride + r] * b[i*bStride + j]
//     a 4x8 block of a^T b with its 8 f32x4 sums in registers; gemmTN4 the same 4x4 block;
//   route(x, dx, max, dy, rows, cols, rowStride, c)
//     one pooling window of `rows` x `cols` pixels at x (c channels, a multiple of 4): for each
//     channel, dx gets dy at the first pixel (row-major) equal to max, none if max is -inf or NaN;
//   cmac(x, y, acc, count, c, yStride, mx, my)    (c a multiple of 4; x rows are c values apart)
//     for j in [0, c): acc[j] += sum over i < count of (x[i*4c + j] - mx[j]) * (y[i*yStride + j] - my[j])
//     (yStride 0 reads one row of y for every i);
//   affine2(x, y, out, count, c, a, b, m, s)      (c a multiple of 4; rows c values apart)
//     out[i, j] = x[i, j] * a[j] + (y[i, j] - m[j]) * b[j] + s[j] for i < count;
//   copyRuns(src, srcStride, dst, dstStride, runs, vectors)
//     for r in [0, runs): the 4 * vectors values at src + r*srcStride go to dst + r*dstStride
//     (byte strides): a concatenation or split along an inner axis, one run of each part at a time;
//   reluGrad(x, dy, out, vectors)
//     out[i] = dy[i] where x[i] > 0, else 0, over 4 * vectors values (ReLU's gradient in one pass);
//   gemmNN(a, b, out, count, aStride, bStride, outStride, rowBlocks, colBlocks)
//     for each block of 4 rows of a and 8 columns of b: out[rows, cols] = sum over k < count of
//     a[row, k] * b[k, cols], overwriting out; gemmNN4 4x4 blocks, gemmNN1 and gemmNN14 one row;
//   gemmNNFused...(the same nine, bias, lower)
//     the same blocks stored as max(sum + bias[cols], lower): with a bias and a ReLU (lower 0) or
//     none (lower -inf);
//
// The products (gemmTN, gemmNN) multiply and add with relaxed SIMD's f32x4.relaxed_madd where the
// runtime has it (fused on CPUs with FMA: x86-64 since 2013, every arm64), else f32x4.mul and
// f32x4.add. A fused multiply-add rounds once, so results differ from the unfused kernels in the
// last bits (within the parity tolerances); they do not depend on the number of threads.
//
// Each call sums its `count` products in registers before adding them to the output, so long
// reductions, cut into calls, are summed in two levels.
import { setFlagsFromString } from 'node:v8';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export interface SimdKernels {
  readonly mac: Kernel;
  readonly gemmTN: Kernel;
  readonly gemmTN4: Kernel;
  readonly route: RouteKernel;
  readonly cmac: (
    x: number,
    y: number,
    acc: number,
    count: number,
    c: number,
    yStride: number,
    mx: number,
    my: number,
  ) => void;
  readonly gemmNN: GemmNN;
  readonly gemmNN4: GemmNN;
  readonly gemmNN1: GemmNN;
  readonly gemmNN14: GemmNN;
  readonly gemmNNFused: GemmNNFused;
  readonly gemmNNFused4: GemmNNFused;
  readonly gemmNNFused1: GemmNNFused;
  readonly gemmNNFused14: GemmNNFused;
  readonly depthwise16: Depthwise;
  readonly depthwise4: Depthwise;
  readonly reluGrad: (x: number, dy: number, out: number, vectors: number) => void;
  readonly copyRuns: (
    src: number,
    srcStride: number,
    dst: number,
    dstStride: number,
    runs: number,
    vectors: number,
  ) => void;
  readonly affine2: (
    x: number,
    y: number,
    out: number,
    count: number,
    c: number,
    a: number,
    b: number,
    m: number,
    s: number,
  ) => void;
}

/** gemmNN's nine integers (see the note at the top). */
export type GemmNN = (
  a: number,
  b: number,
  out: number,
  count: number,
  aStride: number,
  bStride: number,
  outStride: number,
  rowBlocks: number,
  colBlocks: number,
) => void;

/** depthwise16 and depthwise4 (see depthwiseBody): fifteen integers. */
export type Depthwise = (
  x: number,
  w: number,
  out: number,
  rows: number,
  cols: number,
  c: number,
  xColStep: number,
  xRowStep: number,
  outRowStep: number,
  dCol: number,
  dRow: number,
  kh: number,
  kw: number,
  wRow: number,
  groups: number,
) => void;

/** gemmNN's nine integers, then the bias's address and the lower bound (see gemmNNBody). */
export type GemmNNFused = (...args: [...Parameters<GemmNN>, bias: number, lower: number]) => void;

export type RouteKernel = (
  x: number,
  dx: number,
  max: number,
  dy: number,
  rows: number,
  cols: number,
  rowStride: number,
  c: number,
) => void;

/** mac and gemmTN take seven integers: three addresses, a count and three strides or sizes. */
export type Kernel = (
  a: number,
  b: number,
  out: number,
  count: number,
  p4: number,
  p5: number,
  p6: number,
) => void;

const I32 = 0x7f;
const V128 = 0x7b;
const F32 = 0x7d;

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (small constants only). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return vec([...s].map((ch) => [ch.charCodeAt(0)]));
}

// Instructions used by `mac`.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32 = (n: number) => [0x41, ...sleb(n)];
const ADD = [0x6a];
const SUB = [0x6b];
const AND = [0x71];
const GE_U = [0x4f];
const EQZ = [0x45];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = [0x0b];
const br = (depth: number) => [0x0c, ...uleb(depth)];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const simd = (op: number) => [0xfd, ...uleb(op)];
const V_LOAD = [...simd(0x00), 0, 0];
const V_STORE = [...simd(0x0b), 0, 0];
const V_ZERO = [...simd(0x0c), ...new Array<number>(16).fill(0)];
const F32X4_ADD = simd(0xe4);
const F32X4_MUL = simd(0xe6);
const F32X4_SUB = simd(0xe5);
const F32X4_MAX = simd(0xe9);
const F32X4_SPLAT = simd(0x13);
const F_LOAD = [0x2a, 2, 0];
const F_STORE = [0x38, 2, 0];
const F_ZERO = [0x43, 0, 0, 0, 0];
const F_ADD = [0x92];
const F_MUL = [0x94];
/** v128.load / v128.store with a constant byte offset. */
const vLoadAt = (offset: number) => [...simd(0x00), 0, ...uleb(offset)];
const vStoreAt = (offset: number) => [...simd(0x0b), 0, ...uleb(offset)];
/** v128.load32_splat: one float from memory into all four lanes (a broadcast load). */
const splatLoadAt = (offset: number) => [...simd(0x09), 2, ...uleb(offset)];
const F32X4_EQ = simd(0x41);
const F32X4_GT = simd(0x44);
const V_NOT = simd(0x4d);
const V_AND = simd(0x4e);
const V_ANDNOT = simd(0x4f);
const V_OR = simd(0x50);
/** Four -inf (0xff800000, little-endian). */
const V_NEG_INF = [...simd(0x0c), ...new Array<number[]>(4).fill([0x00, 0x00, 0x80, 0xff]).flat()];

/** f32x4.relaxed_madd (relaxed SIMD): a * b + c, fused where the CPU has FMA. */
const F32X4_RELAXED_MADD = simd(0x105);

/** a * b + c in f32x4 lanes: one relaxed_madd with `fma`, else a multiply and an add. */
function multiplyAdd(fma: boolean, a: number[], b: number[], c: number[]): number[] {
  return fma ? [...a, ...b, ...c, ...F32X4_RELAXED_MADD] : [...c, ...a, ...b, ...F32X4_MUL, ...F32X4_ADD];
}

// Parameters 0-6 as in `Mac`; locals: 7 j (byte offset of the channel), 8 vector end, 9 xp,
// 10 dp, 11 i, 12 vector sum, 13 scalar sum.
const [X, DY, ACC, COUNT, C, XSTRIDE, DYSTRIDE, J, VEND, XP, DP, I, VSUM, SSUM] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
];
// 14 the end of the whole fours of channel groups, 15-18 their sums.
const [V16END, S4] = [14, 15];

/** One channel group: `sum` over the count products, then acc[j] += sum. */
function channelGroup(
  zero: number[],
  load: number[],
  mul: number[],
  add: number[],
  store: number[],
  sum: number,
  fma: boolean,
): number[] {
  const product = fma
    ? multiplyAdd(true, [...get(XP), ...load], [...get(DP), ...load], get(sum))
    : [...get(sum), ...get(XP), ...load, ...get(DP), ...load, ...mul, ...add];
  // prettier-ignore
  return [
    ...zero, ...set(sum),
    ...get(X), ...get(J), ...ADD, ...set(XP),
    ...get(DY), ...get(J), ...ADD, ...set(DP),
    ...get(COUNT), ...set(I),
    ...BLOCK, ...LOOP,
    ...get(I), ...EQZ, ...brIf(1),
    ...product, ...set(sum),
    ...get(XP), ...get(XSTRIDE), ...ADD, ...set(XP),
    ...get(DP), ...get(DYSTRIDE), ...ADD, ...set(DP),
    ...get(I), ...i32(1), ...SUB, ...set(I),
    ...br(0), ...END, ...END,
    ...get(ACC), ...get(J), ...ADD,
    ...get(ACC), ...get(J), ...ADD, ...load, ...get(sum), ...add,
    ...store,
  ];
}

/**
 * Four channel groups (16 channels) at once, four sums in registers: each group's sum is a chain
 * of dependent additions, and interleaving four chains keeps the adder busy.
 */
function channelGroups4(fma: boolean): number[] {
  const sums = [S4, S4 + 1, S4 + 2, S4 + 3];
  const step: number[] = [];
  const flush: number[] = [];
  sums.forEach((sum, q) => {
    step.push(
      ...multiplyAdd(fma, [...get(XP), ...vLoadAt(16 * q)], [...get(DP), ...vLoadAt(16 * q)], get(sum)),
    );
    step.push(...set(sum));
    flush.push(...get(ACC), ...get(J), ...ADD);
    flush.push(
      ...get(ACC),
      ...get(J),
      ...ADD,
      ...vLoadAt(16 * q),
      ...get(sum),
      ...F32X4_ADD,
      ...vStoreAt(16 * q),
    );
  });
  // prettier-ignore
  return [
    ...sums.flatMap((sum) => [...V_ZERO, ...set(sum)]),
    ...get(X), ...get(J), ...ADD, ...set(XP),
    ...get(DY), ...get(J), ...ADD, ...set(DP),
    ...get(COUNT), ...set(I),
    ...BLOCK, ...LOOP,
    ...get(I), ...EQZ, ...brIf(1),
    ...step,
    ...get(XP), ...get(XSTRIDE), ...ADD, ...set(XP),
    ...get(DP), ...get(DYSTRIDE), ...ADD, ...set(DP),
    ...get(I), ...i32(1), ...SUB, ...set(I),
    ...br(0), ...END, ...END,
    ...flush,
  ];
}

function macBody(fma: boolean): number[] {
  const vector = channelGroup(V_ZERO, V_LOAD, F32X4_MUL, F32X4_ADD, V_STORE, VSUM, fma);
  const scalar = channelGroup(F_ZERO, F_LOAD, F_MUL, F_ADD, F_STORE, SSUM, false);
  // prettier-ignore
  const code = [
    // v16end = (c & ~15) * 4; vend = (c & ~3) * 4; cend = c * 4 is recomputed below.
    ...get(C), ...i32(-16), ...AND, ...i32(4), 0x6c, ...set(V16END),
    ...get(C), ...i32(-4), ...AND, ...i32(4), 0x6c, ...set(VEND),
    ...i32(0), ...set(J),
    ...BLOCK, ...LOOP,
    ...get(J), ...get(V16END), ...GE_U, ...brIf(1),
    ...channelGroups4(fma),
    ...get(J), ...i32(64), ...ADD, ...set(J),
    ...br(0), ...END, ...END,
    ...BLOCK, ...LOOP,
    ...get(J), ...get(VEND), ...GE_U, ...brIf(1),
    ...vector,
    ...get(J), ...i32(16), ...ADD, ...set(J),
    ...br(0), ...END, ...END,
    ...BLOCK, ...LOOP,
    ...get(J), ...get(C), ...i32(4), 0x6c, ...GE_U, ...brIf(1),
    ...scalar,
    ...get(J), ...i32(4), ...ADD, ...set(J),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const locals = vec([
    [5, I32],
    [1, V128],
    [1, F32],
    [1, I32],
    [4, V128],
  ]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

// gemmTN: parameters 0 a, 1 b, 2 out, 3 count, 4 aStride, 5 bStride, 6 outStride; locals 7 i,
// 8-15 the sums (row r, half h at 8 + 2r + h), 16-17 the two halves of b's row, 18 a's splat.
const [A, B, OUT, N, ASTRIDE, BSTRIDE, OSTRIDE, K] = [0, 1, 2, 3, 4, 5, 6, 7];
const sumOf = (r: number, h: number) => 8 + 2 * r + h;
const [B0, B1, SPLAT] = [16, 17, 18];

/** gemmTN with `halves` f32x4 columns per row of the block (2: 4x8, 1: 4x4). */
function gemmTNBody(halves: 1 | 2, fma: boolean): number[] {
  const step: number[] = [...get(B), ...vLoadAt(0), ...set(B0)];
  if (halves === 2) step.push(...get(B), ...vLoadAt(16), ...set(B1));
  for (let r = 0; r < 4; r++) {
    step.push(...get(A), ...splatLoadAt(4 * r), ...set(SPLAT));
    for (let h = 0; h < halves; h++) {
      step.push(...multiplyAdd(fma, get(SPLAT), get(h === 0 ? B0 : B1), get(sumOf(r, h))));
      step.push(...set(sumOf(r, h)));
    }
  }
  const flush: number[] = [];
  for (let r = 0; r < 4; r++) {
    for (let h = 0; h < halves; h++) {
      flush.push(...get(OUT), ...get(OUT), ...vLoadAt(16 * h), ...get(sumOf(r, h)), ...F32X4_ADD);
      flush.push(...vStoreAt(16 * h));
    }
    flush.push(...get(OUT), ...get(OSTRIDE), ...ADD, ...set(OUT));
  }
  // prettier-ignore
  const code = [
    ...get(N), ...set(K),
    ...BLOCK, ...LOOP,
    ...get(K), ...EQZ, ...brIf(1),
    ...step,
    ...get(A), ...get(ASTRIDE), ...ADD, ...set(A),
    ...get(B), ...get(BSTRIDE), ...ADD, ...set(B),
    ...get(K), ...i32(1), ...SUB, ...set(K),
    ...br(0), ...END, ...END,
    ...flush,
    ...END,
  ];
  // v128 locals start zeroed: the sums need no initialisation.
  const body = [
    ...vec([
      [1, I32],
      [11, V128],
    ]),
    ...code,
  ];
  return [...uleb(body.length), ...body];
}

// gemmNN (rows r = 4 or 1, halves h = 2 or 1): parameters 0 a, 1 b, 2 out, 3 count (the inner
// axis), 4 aStride, 5 bStride, 6 outStride, 7 row blocks, 8 column blocks; for each block of
// `rows` rows of a and each block of 4h columns of b, out[row, cols] = sum over k < count of
// a[row, k] * b[k, cols] (overwriting out). The fused variants (gemmNNFused...) take 9 bias (an
// address, n values) and 10 lower (f32) and store max(sum + bias[cols], lower): a product with its
// bias and a ReLU (lower 0) or none (lower -inf) in the same pass. Locals after the parameters:
// k, ap, bp, the block output, row blocks left, column blocks left, the block row of a, the block
// column of b, the block row of out, 2 aStride, 3 aStride, a store address (and for the fused
// variants the block column of the bias), then the sums (row r, half h), b's two halves and a's
// splat (and the lower bound as a vector).
function gemmNNBody(rows: 1 | 4, halves: 1 | 2, fma: boolean, fused = false): number[] {
  const [a, b, out, count, aStride, bStride, oStride, rowBlocks, colBlocks] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [bias, lower] = [9, 10];
  const first = fused ? 11 : 9;
  const [k, ap, bp, op, rb, cb, aRow, bCol, oRow, as2, as3, sp] = Array.from(
    { length: 12 },
    (_, i) => first + i,
  );
  const biasCol = first + 12;
  const vFirst = first + (fused ? 13 : 12);
  const sum = (r: number, h: number) => vFirst + 2 * r + h;
  const [b0, b1, splat, lowerV] = [vFirst + 8, vFirst + 9, vFirst + 10, vFirst + 11];
  const rowAddress = (r: number) =>
    r === 0 ? get(ap) : [...get(ap), ...get(r === 1 ? aStride : r === 2 ? as2 : as3), ...ADD];
  const zero: number[] = [];
  const step: number[] = [...get(bp), ...vLoadAt(0), ...set(b0)];
  if (halves === 2) step.push(...get(bp), ...vLoadAt(16), ...set(b1));
  const store: number[] = [...get(op), ...set(sp)];
  for (let r = 0; r < rows; r++) {
    step.push(...rowAddress(r), ...splatLoadAt(0), ...set(splat));
    for (let h = 0; h < halves; h++) {
      zero.push(...V_ZERO, ...set(sum(r, h)));
      step.push(...multiplyAdd(fma, get(splat), get(h === 0 ? b0 : b1), get(sum(r, h))));
      step.push(...set(sum(r, h)));
      const value = fused
        ? [...get(sum(r, h)), ...get(biasCol), ...vLoadAt(16 * h), ...F32X4_ADD, ...get(lowerV), ...F32X4_MAX]
        : get(sum(r, h));
      store.push(...get(sp), ...value, ...vStoreAt(16 * h));
    }
    store.push(...get(sp), ...get(oStride), ...ADD, ...set(sp));
  }
  // prettier-ignore
  const code = [
    ...(fused ? [...get(lower), ...F32X4_SPLAT, ...set(lowerV)] : []),
    ...get(aStride), ...i32(2), 0x6c, ...set(as2),
    ...get(aStride), ...i32(3), 0x6c, ...set(as3),
    ...get(a), ...set(aRow),
    ...get(out), ...set(oRow),
    ...get(rowBlocks), ...set(rb),
    ...BLOCK, ...LOOP,
    ...get(rb), ...EQZ, ...brIf(1),
    ...get(b), ...set(bCol),
    ...(fused ? [...get(bias), ...set(biasCol)] : []),
    ...get(oRow), ...set(op),
    ...get(colBlocks), ...set(cb),
    ...BLOCK, ...LOOP,
    ...get(cb), ...EQZ, ...brIf(1),
    ...zero,
    ...get(aRow), ...set(ap),
    ...get(bCol), ...set(bp),
    ...get(count), ...set(k),
    ...BLOCK, ...LOOP,
    ...get(k), ...EQZ, ...brIf(1),
    ...step,
    ...get(ap), ...i32(4), ...ADD, ...set(ap),
    ...get(bp), ...get(bStride), ...ADD, ...set(bp),
    ...get(k), ...i32(1), ...SUB, ...set(k),
    ...br(0), ...END, ...END,
    ...store,
    ...get(bCol), ...i32(16 * halves), ...ADD, ...set(bCol),
    ...(fused ? [...get(biasCol), ...i32(16 * halves), ...ADD, ...set(biasCol)] : []),
    ...get(op), ...i32(16 * halves), ...ADD, ...set(op),
    ...get(cb), ...i32(1), ...SUB, ...set(cb),
    ...br(0), ...END, ...END,
    ...get(aRow), ...get(aStride), ...i32(rows), 0x6c, ...ADD, ...set(aRow),
    ...get(oRow), ...get(oStride), ...i32(rows), 0x6c, ...ADD, ...set(oRow),
    ...get(rb), ...i32(1), ...SUB, ...set(rb),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const body = [
    ...vec([
      [fused ? 13 : 12, I32],
      [fused ? 12 : 11, V128],
    ]),
    ...code,
  ];
  return [...uleb(body.length), ...body];
}

// route: parameters 0 x, 1 dx, 2 max, 3 dy, 4 rows, 5 cols, 6 rowStride, 7 c; locals 8 g (byte
// offset of the channel group), 9 row offset, 10 pixel offset, 11 rows left, 12 columns left,
// 13 pixel stride, 14 max, 15 dy, 16 found (lanes already routed or never to be), 17 equal.
const [RX, RDX, RMAX, RDY, ROWS, COLS, RSTRIDE, RC] = [0, 1, 2, 3, 4, 5, 6, 7];
const [G, ROW, PIX, RLEFT, CLEFT, PSTRIDE, MAXV, DYV, FOUND, EQV] = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17];

function routeBody(): number[] {
  // prettier-ignore
  const pixel = [
    ...get(RX), ...get(PIX), ...ADD, ...V_LOAD, ...get(MAXV), ...F32X4_EQ, ...set(EQV),
    // dx[pixel] += dy & (equal & ~found)
    ...get(RDX), ...get(PIX), ...ADD,
    ...get(RDX), ...get(PIX), ...ADD, ...V_LOAD,
    ...get(DYV), ...get(EQV), ...get(FOUND), ...V_ANDNOT, ...V_AND, ...F32X4_ADD,
    ...V_STORE,
    ...get(FOUND), ...get(EQV), ...V_OR, ...set(FOUND),
  ];
  // prettier-ignore
  const code = [
    ...get(RC), ...i32(4), 0x6c, ...set(PSTRIDE),
    ...i32(0), ...set(G),
    ...BLOCK, ...LOOP,
    ...get(G), ...get(PSTRIDE), ...GE_U, ...brIf(1),
    ...get(RMAX), ...get(G), ...ADD, ...V_LOAD, ...set(MAXV),
    ...get(RDY), ...get(G), ...ADD, ...V_LOAD, ...set(DYV),
    ...get(MAXV), ...V_NEG_INF, ...F32X4_GT, ...V_NOT, ...set(FOUND),
    ...get(G), ...set(ROW),
    ...get(ROWS), ...set(RLEFT),
    ...BLOCK, ...LOOP,
    ...get(RLEFT), ...EQZ, ...brIf(1),
    ...get(ROW), ...set(PIX),
    ...get(COLS), ...set(CLEFT),
    ...BLOCK, ...LOOP,
    ...get(CLEFT), ...EQZ, ...brIf(1),
    ...pixel,
    ...get(PIX), ...get(PSTRIDE), ...ADD, ...set(PIX),
    ...get(CLEFT), ...i32(1), ...SUB, ...set(CLEFT),
    ...br(0), ...END, ...END,
    ...get(ROW), ...get(RSTRIDE), ...ADD, ...set(ROW),
    ...get(RLEFT), ...i32(1), ...SUB, ...set(RLEFT),
    ...br(0), ...END, ...END,
    ...get(G), ...i32(16), ...ADD, ...set(G),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const body = [
    ...vec([
      [6, I32],
      [4, V128],
    ]),
    ...code,
  ];
  return [...uleb(body.length), ...body];
}

// cmac: parameters 0 x, 1 y, 2 acc, 3 count, 4 c, 5 yStride, 6 mx, 7 my; locals 8 g, 9 xp, 10 yp,
// 11 i, 12 row (4c), 13 sum, 14 mx vector, 15 my vector.
function cmacBody(): number[] {
  const [x, y, acc, count, c, yStride, mx, my] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [g, xp, yp, i, row, sum, mxv, myv] = [8, 9, 10, 11, 12, 13, 14, 15];
  // prettier-ignore
  const code = [
    ...get(c), ...i32(4), 0x6c, ...set(row),
    ...i32(0), ...set(g),
    ...BLOCK, ...LOOP,
    ...get(g), ...get(row), ...GE_U, ...brIf(1),
    ...get(mx), ...get(g), ...ADD, ...V_LOAD, ...set(mxv),
    ...get(my), ...get(g), ...ADD, ...V_LOAD, ...set(myv),
    ...V_ZERO, ...set(sum),
    ...get(x), ...get(g), ...ADD, ...set(xp),
    ...get(y), ...get(g), ...ADD, ...set(yp),
    ...get(count), ...set(i),
    ...BLOCK, ...LOOP,
    ...get(i), ...EQZ, ...brIf(1),
    ...get(sum),
    ...get(xp), ...V_LOAD, ...get(mxv), ...F32X4_SUB,
    ...get(yp), ...V_LOAD, ...get(myv), ...F32X4_SUB,
    ...F32X4_MUL, ...F32X4_ADD, ...set(sum),
    ...get(xp), ...get(row), ...ADD, ...set(xp),
    ...get(yp), ...get(yStride), ...ADD, ...set(yp),
    ...get(i), ...i32(1), ...SUB, ...set(i),
    ...br(0), ...END, ...END,
    ...get(acc), ...get(g), ...ADD,
    ...get(acc), ...get(g), ...ADD, ...V_LOAD, ...get(sum), ...F32X4_ADD,
    ...V_STORE,
    ...get(g), ...i32(16), ...ADD, ...set(g),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const body = [
    ...vec([
      [5, I32],
      [3, V128],
    ]),
    ...code,
  ];
  return [...uleb(body.length), ...body];
}

// affine2: parameters 0 x, 1 y, 2 out, 3 count, 4 c, 5 a, 6 b, 7 m, 8 s; locals 9 g, 10 offset,
// 11 i, 12 row (4c), 13-16 the a, b, m, s vectors of the channel group.
function affine2Body(): number[] {
  const [x, y, out, count, c, a, b, m, sh] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [g, at, i, row, av, bv, mv, sv] = [9, 10, 11, 12, 13, 14, 15, 16];
  // prettier-ignore
  const code = [
    ...get(c), ...i32(4), 0x6c, ...set(row),
    ...i32(0), ...set(g),
    ...BLOCK, ...LOOP,
    ...get(g), ...get(row), ...GE_U, ...brIf(1),
    ...get(a), ...get(g), ...ADD, ...V_LOAD, ...set(av),
    ...get(b), ...get(g), ...ADD, ...V_LOAD, ...set(bv),
    ...get(m), ...get(g), ...ADD, ...V_LOAD, ...set(mv),
    ...get(sh), ...get(g), ...ADD, ...V_LOAD, ...set(sv),
    ...get(g), ...set(at),
    ...get(count), ...set(i),
    ...BLOCK, ...LOOP,
    ...get(i), ...EQZ, ...brIf(1),
    ...get(out), ...get(at), ...ADD,
    ...get(x), ...get(at), ...ADD, ...V_LOAD, ...get(av), ...F32X4_MUL,
    ...get(y), ...get(at), ...ADD, ...V_LOAD, ...get(mv), ...F32X4_SUB, ...get(bv), ...F32X4_MUL,
    ...F32X4_ADD, ...get(sv), ...F32X4_ADD,
    ...V_STORE,
    ...get(at), ...get(row), ...ADD, ...set(at),
    ...get(i), ...i32(1), ...SUB, ...set(i),
    ...br(0), ...END, ...END,
    ...get(g), ...i32(16), ...ADD, ...set(g),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const body = [
    ...vec([
      [4, I32],
      [4, V128],
    ]),
    ...code,
  ];
  return [...uleb(body.length), ...body];
}

// reluGrad: parameters 0 x, 1 dy, 2 out, 3 count (f32x4 vectors); locals 4 offset, 5 end.
// out = dy where x > 0, else 0 (a NaN x gives 0, as PyTorch's threshold_backward).
function reluGradBody(): number[] {
  const [x, dy, out, count, at, end] = [0, 1, 2, 3, 4, 5];
  // prettier-ignore
  const code = [
    ...get(count), ...i32(16), 0x6c, ...set(end),
    ...i32(0), ...set(at),
    ...BLOCK, ...LOOP,
    ...get(at), ...get(end), ...GE_U, ...brIf(1),
    ...get(out), ...get(at), ...ADD,
    ...get(dy), ...get(at), ...ADD, ...V_LOAD,
    ...get(x), ...get(at), ...ADD, ...V_LOAD, ...V_ZERO, ...F32X4_GT,
    ...V_AND,
    ...V_STORE,
    ...get(at), ...i32(16), ...ADD, ...set(at),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const body = [...vec([[2, I32]]), ...code];
  return [...uleb(body.length), ...body];
}

// copyRuns: parameters 0 src, 1 srcStride, 2 dst, 3 dstStride, 4 runs, 5 vectors; locals 6 offset,
// 7 run bytes. Each run is copied 16 bytes at a time.
function copyRunsBody(): number[] {
  const [src, srcStride, dst, dstStride, runs, vectors, at, bytes] = [0, 1, 2, 3, 4, 5, 6, 7];
  // prettier-ignore
  const code = [
    ...get(vectors), ...i32(16), 0x6c, ...set(bytes),
    ...BLOCK, ...LOOP,
    ...get(runs), ...EQZ, ...brIf(1),
    ...i32(0), ...set(at),
    ...BLOCK, ...LOOP,
    ...get(at), ...get(bytes), ...GE_U, ...brIf(1),
    ...get(dst), ...get(at), ...ADD,
    ...get(src), ...get(at), ...ADD, ...V_LOAD,
    ...V_STORE,
    ...get(at), ...i32(16), ...ADD, ...set(at),
    ...br(0), ...END, ...END,
    ...get(src), ...get(srcStride), ...ADD, ...set(src),
    ...get(dst), ...get(dstStride), ...ADD, ...set(dst),
    ...get(runs), ...i32(1), ...SUB, ...set(runs),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const body = [...vec([[2, I32]]), ...code];
  return [...uleb(body.length), ...body];
}

/**
 * The memory import: `(memory 1)`, or for the threaded backend's shared memory
 * `(memory 1 65536 shared)` (an import of a shared memory must say so and give a maximum, here the
 * 4 GiB that the backend's own memory declares).
 */
// depthwise16 / depthwise4: a depthwise convolution (multiplier 1) over a block of output pixels,
// `groups` blocks of 16 channels (depthwise16) or of 4 (depthwise4) at a time. Parameters: 0 x
// (the input pixel of the first output pixel's first tap, first channel), 1 w (that tap's
// weights), 2 out, 3 rows, 4 cols, 5 c (channels per pixel: the weights of the next tap and the
// next output pixel are 4c bytes on), 6 xColStep and 7 xRowStep (input bytes between output
// columns, rows), 8 outRowStep, 9 dCol and 10 dRow (input bytes between taps along a row, a
// column), 11 kh, 12 kw (taps), 13 wRow (weight bytes between tap rows), 14 groups. Each output
// value is the sum over the taps, in row-major tap order, of input times weight, started from 0:
//   out[r, col, ch] = sum over ky < kh, kx < kw of x[r*xRowStep + col*xColStep + ky*dRow + kx*dCol, ch]
//                                                   * w[ky*wRow + kx*4c, ch]
// Locals: 15 r, 16 col, 17 g, 18 ky, 19 kx, 20 xRowAt, 21 outRowAt, 22 xColAt, 23 outAt,
// 24 xp, 25 wp, 26 xt, 27 wt, 28 pixel (4c); then the sums.
function depthwiseBody(vectors: 1 | 4, fma: boolean): number[] {
  const [x, w, out, rows, cols, c, xColStep, xRowStep, outRowStep, dCol, dRow, kh, kw, wRow, groups] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
  ];
  const [r, col, g, ky, kx, xRowAt, outRowAt, xColAt, outAt, xp, wp, xt, wt, pixel] = Array.from(
    { length: 14 },
    (_, i) => 15 + i,
  );
  const sum = (v: number) => 29 + v;
  const lanes = Array.from({ length: vectors }, (_, v) => v);
  const block = 16 * vectors;
  // prettier-ignore
  const code = [
    ...get(c), ...i32(4), 0x6c, ...set(pixel),
    ...get(x), ...set(xRowAt),
    ...get(out), ...set(outRowAt),
    ...get(rows), ...set(r),
    ...BLOCK, ...LOOP,
    ...get(r), ...EQZ, ...brIf(1),
    ...get(xRowAt), ...set(xColAt),
    ...get(outRowAt), ...set(outAt),
    ...get(cols), ...set(col),
    ...BLOCK, ...LOOP,
    ...get(col), ...EQZ, ...brIf(1),
    ...i32(0), ...set(g),
    ...BLOCK, ...LOOP,
    ...get(g), ...get(groups), ...GE_U, ...brIf(1),
    ...lanes.flatMap((v) => [...V_ZERO, ...set(sum(v))]),
    ...get(xColAt), ...get(g), ...i32(block), 0x6c, ...ADD, ...set(xt),
    ...get(w), ...get(g), ...i32(block), 0x6c, ...ADD, ...set(wt),
    ...get(kh), ...set(ky),
    ...BLOCK, ...LOOP,
    ...get(ky), ...EQZ, ...brIf(1),
    ...get(xt), ...set(xp),
    ...get(wt), ...set(wp),
    ...get(kw), ...set(kx),
    ...BLOCK, ...LOOP,
    ...get(kx), ...EQZ, ...brIf(1),
    ...lanes.flatMap((v) => [
      ...multiplyAdd(fma, [...get(xp), ...vLoadAt(16 * v)], [...get(wp), ...vLoadAt(16 * v)], get(sum(v))),
      ...set(sum(v)),
    ]),
    ...get(xp), ...get(dCol), ...ADD, ...set(xp),
    ...get(wp), ...get(pixel), ...ADD, ...set(wp),
    ...get(kx), ...i32(1), ...SUB, ...set(kx),
    ...br(0), ...END, ...END,
    ...get(xt), ...get(dRow), ...ADD, ...set(xt),
    ...get(wt), ...get(wRow), ...ADD, ...set(wt),
    ...get(ky), ...i32(1), ...SUB, ...set(ky),
    ...br(0), ...END, ...END,
    ...lanes.flatMap((v) => [
      ...get(outAt), ...get(g), ...i32(block), 0x6c, ...ADD, ...get(sum(v)), ...vStoreAt(16 * v),
    ]),
    ...get(g), ...i32(1), ...ADD, ...set(g),
    ...br(0), ...END, ...END,
    ...get(xColAt), ...get(xColStep), ...ADD, ...set(xColAt),
    ...get(outAt), ...get(pixel), ...ADD, ...set(outAt),
    ...get(col), ...i32(1), ...SUB, ...set(col),
    ...br(0), ...END, ...END,
    ...get(xRowAt), ...get(xRowStep), ...ADD, ...set(xRowAt),
    ...get(outRowAt), ...get(outRowStep), ...ADD, ...set(outRowAt),
    ...get(r), ...i32(1), ...SUB, ...set(r),
    ...br(0), ...END, ...END,
    ...END,
  ];
  const body = [
    ...vec([
      [14, I32],
      [vectors, V128],
    ]),
    ...code,
  ];
  return [...uleb(body.length), ...body];
}

function memoryImport(shared: boolean): number[] {
  return shared ? [0x03, ...uleb(1), ...uleb(65536)] : [0x00, ...uleb(1)];
}

/** Every function of the module, in index order: its export name, parameter types and body. */
function kernelTable(fma: boolean): [keyof SimdKernels, number[], number[]][] {
  const ints = (n: number) => new Array<number>(n).fill(I32);
  return [
    ['mac', ints(7), macBody(fma)],
    ['gemmTN', ints(7), gemmTNBody(2, fma)],
    ['gemmTN4', ints(7), gemmTNBody(1, fma)],
    ['route', ints(8), routeBody()],
    ['cmac', ints(8), cmacBody()],
    ['affine2', ints(9), affine2Body()],
    ['gemmNN', ints(9), gemmNNBody(4, 2, fma)],
    ['gemmNN4', ints(9), gemmNNBody(4, 1, fma)],
    ['gemmNN1', ints(9), gemmNNBody(1, 2, fma)],
    ['gemmNN14', ints(9), gemmNNBody(1, 1, fma)],
    ['reluGrad', ints(4), reluGradBody()],
    ['copyRuns', ints(6), copyRunsBody()],
    ['gemmNNFused', [...ints(10), F32], gemmNNBody(4, 2, fma, true)],
    ['gemmNNFused4', [...ints(10), F32], gemmNNBody(4, 1, fma, true)],
    ['gemmNNFused1', [...ints(10), F32], gemmNNBody(1, 2, fma, true)],
    ['gemmNNFused14', [...ints(10), F32], gemmNNBody(1, 1, fma, true)],
    ['depthwise16', ints(15), depthwiseBody(4, fma)],
    ['depthwise4', ints(15), depthwiseBody(1, fma)],
  ];
}

function moduleBytes(shared: boolean, fma: boolean): Uint8Array {
  const table = kernelTable(fma);
  // One function type per distinct parameter list, none returning a value.
  const signatures = [...new Set(table.map(([, params]) => params.join()))];
  const types = signatures.map((key) => [0x60, ...vec(key.split(',').map((t) => [Number(t)])), ...vec([])]);
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    // (import "env" "memory" (memory ...))
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, ...memoryImport(shared)]])),
    ...section(3, vec(table.map(([, params]) => uleb(signatures.indexOf(params.join()))))),
    ...section(7, vec(table.map(([kernel], index) => [...name(kernel), 0x00, ...uleb(index)]))),
    ...section(10, vec(table.map(([, , body]) => body))),
  ]);
}

/** f32x4 sums the peak loop keeps: enough independent chains to cover the FMA latency. */
export const PEAK_CHAINS = 12;

// The peak loop: (n, x, y) -> f32; locals 3-14 the sums, 15 x and 16 y as f32x4. Each of n
// iterations does one multiply-add per sum (relaxed_madd with `fma`), and nothing else but the
// loop's count: the most f32x4 arithmetic a thread does here. Returns lane 0 of all sums added
// (PEAK_CHAINS * n * x * y, exact for small whole numbers: what the test checks).
function peakBody(fma: boolean): number[] {
  const [n, x, y, vx, vy] = [0, 1, 2, 3 + PEAK_CHAINS, 4 + PEAK_CHAINS];
  const sums = Array.from({ length: PEAK_CHAINS }, (_, i) => 3 + i);
  // prettier-ignore
  const code = [
    ...get(x), ...F32X4_SPLAT, ...set(vx),
    ...get(y), ...F32X4_SPLAT, ...set(vy),
    ...BLOCK, ...LOOP,
    ...get(n), ...EQZ, ...brIf(1),
    ...sums.flatMap((sum) => [...multiplyAdd(fma, get(vx), get(vy), get(sum)), ...set(sum)]),
    ...get(n), ...i32(1), ...SUB, ...set(n),
    ...br(0), ...END, ...END,
    ...get(sums[0]), ...sums.slice(1).flatMap((sum) => [...get(sum), ...F32X4_ADD]),
    ...simd(0x1f), 0,
    ...END,
  ];
  const body = [...vec([[PEAK_CHAINS + 2, V128]]), ...code];
  return [...uleb(body.length), ...body];
}

function peakModuleBytes(fma: boolean): Uint8Array {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[I32], [F32], [F32]]), ...vec([[F32]])]])),
    ...section(3, vec([uleb(0)])),
    ...section(7, vec([[...name('peak'), 0x00, ...uleb(0)]])),
    ...section(10, vec([peakBody(fma)])),
  ]);
}

/** The peak loop (see peakBody), and whether it fuses its multiply-adds. */
export interface PeakLoop {
  readonly run: (n: number, x: number, y: number) => number;
  readonly fused: boolean;
  /** Floating-point operations per iteration (a multiply and an add per lane). */
  readonly flopsPerIteration: number;
}

/**
 * The peak loop as the products would run it (fused where the runtime has relaxed SIMD), or null
 * where the runtime has no WebAssembly SIMD.
 */
export function simdPeakLoop(): PeakLoop | null {
  enableRelaxedSimd();
  for (const fused of [true, false]) {
    const code = peakModuleBytes(fused);
    if (!wasm.validate(code)) continue;
    const instance = new wasm.Instance(new wasm.Module(code), {});
    const run = instance.exports.peak as PeakLoop['run'];
    return { run, fused, flopsPerIteration: PEAK_CHAINS * 4 * 2 };
  }
  return null;
}

/** The part of the WebAssembly API used here (the workspace's TypeScript libs do not declare it). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => {
    buffer: ArrayBufferLike;
  };
}
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** A fresh unshared WebAssembly memory of `pages` 64 KiB pages (scratch space for measurements). */
export function scratchMemory(pages: number): { buffer: ArrayBufferLike } {
  return new wasm.Memory({ initial: pages });
}

/** The module for unshared and for shared memory; null where the runtime rejects it. */
const bytes = new Map<boolean, Uint8Array | null>();
const instances = new WeakMap<object, SimdKernels>();

/**
 * The module's bytes for an unshared or a shared memory; null where the runtime rejects them. The
 * matrix products use relaxed SIMD's fused multiply-add where the runtime has it (Node 20 behind
 * a V8 flag, set here; on by default from Node 22), else a multiply and an add.
 */
export function simdModuleBytes(shared: boolean): Uint8Array | null {
  if (!bytes.has(shared)) {
    enableRelaxedSimd();
    const fused = moduleBytes(shared, true);
    const plain = moduleBytes(shared, false);
    bytes.set(shared, wasm.validate(fused) ? fused : wasm.validate(plain) ? plain : null);
  }
  return bytes.get(shared) ?? null;
}

let relaxedTried = false;

/**
 * Turns on relaxed SIMD in Node 20 (V8 11.3 has it behind --experimental-wasm-relaxed-simd; the
 * flag is read when a module is validated or compiled, so setting it here, before ours, suffices).
 */
function enableRelaxedSimd(): void {
  if (relaxedTried) return;
  relaxedTried = true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // A runtime without the flag: validation decides.
  }
}

/** True for a WebAssembly.Memory whose buffer is shared (the threaded backend's). */
export function isSharedMemory(memory: { buffer: ArrayBufferLike }): boolean {
  return Object.prototype.toString.call(memory.buffer) === '[object SharedArrayBuffer]';
}

/**
 * The kernels on a memory (the backend's, or in a kernel thread the same shared memory), or null
 * where the runtime has no WebAssembly SIMD. One instance per memory and thread.
 */
export function kernelsOn(memory: { buffer: ArrayBufferLike }): SimdKernels | null {
  const code = simdModuleBytes(isSharedMemory(memory));
  if (code === null) return null;
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    const { exports } = new wasm.Instance(new wasm.Module(code), { env: { memory } });
    // The module exports exactly the kernels of kernelTable, under SimdKernels' names.
    kernels = exports as unknown as SimdKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}

/** The backend's WebAssembly.Memory, or undefined for a build that does not expose it. */
export function backendMemory(backend: BackendWasm): { buffer: ArrayBufferLike } | undefined {
  const module = backend.wasm as unknown as { asm?: { memory?: unknown }; wasmMemory?: unknown };
  const memory = module.asm?.memory ?? module.wasmMemory;
  // By its tag, not instanceof: the module may come from another realm (a vm context, jest's).
  return Object.prototype.toString.call(memory) === '[object WebAssembly.Memory]'
    ? (memory as { buffer: ArrayBufferLike })
    : undefined;
}

/**
 * The kernels on the backend's heap, or null where they cannot run (a runtime without WebAssembly
 * SIMD, or a backend build that does not expose its memory); callers then use composed kernels.
 */
export function simdKernels(backend: BackendWasm): SimdKernels | null {
  const memory = backendMemory(backend);
  return memory === undefined ? null : kernelsOn(memory);
}
