import { initBackend, tf, type HostTensor } from '@rnas/engine';
import {
  batchNormParams,
  convParam,
  countParams,
  depthwiseParam,
  disposeParams,
  exportParams,
  importParams,
  initParams,
  linearParams,
  type ParamInfo,
} from './params';

const PARAMS: ParamInfo[] = [
  convParam('conv.weight', 3, 2, 2, 4),
  depthwiseParam('dw.weight', 3, 3, 2),
  ...linearParams('fc', 5, 2),
  ...batchNormParams('bn', 3),
];

/** Reference-layout host tensors whose values are their flat index, so layouts can be checked. */
function reference(params: readonly ParamInfo[]): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = Object.create(null);
  for (const p of params) {
    const size = p.refShape.reduce((a, b) => a * b, 1);
    out[p.name] = {
      dtype: 'F32',
      shape: [...p.refShape],
      data: Float32Array.from({ length: size }, (_, i) => i),
    };
  }
  return out;
}

describe('parameter maps', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('imports reference layouts into tfjs layouts and exports them back unchanged', () => {
    const before = tf.memory().numTensors;
    const host = reference(PARAMS);
    const params = importParams(PARAMS, host, 'w.safetensors');
    // conv [out=3, in=2, kh=2, kw=4] -> [kh, kw, in, out]: element (o, i, y, x) = ((o*2+i)*2+y)*4+x.
    const conv = params.get('conv.weight') as tf.Tensor;
    expect(conv.shape).toEqual([2, 4, 2, 3]);
    const cv = conv.arraySync() as number[][][][];
    expect(cv[1][3][0][2]).toBe(((2 * 2 + 0) * 2 + 1) * 4 + 3);
    // depthwise [C=3, 1, kh=3, kw=2] -> [kh, kw, C, 1]: element (c, 0, y, x) = (c*3+y)*2+x.
    const dw = params.get('dw.weight') as tf.Tensor;
    expect(dw.shape).toEqual([3, 2, 3, 1]);
    expect((dw.arraySync() as number[][][][])[2][1][1][0]).toBe((1 * 3 + 2) * 2 + 1);
    // linear [out=2, in=5] -> [in, out].
    const fc = params.get('fc.weight') as tf.Tensor;
    expect(fc.shape).toEqual([5, 2]);
    expect((fc.arraySync() as number[][])[4][1]).toBe(1 * 5 + 4);
    const back = exportParams(PARAMS, params);
    for (const p of PARAMS) {
      expect(back[p.name].shape).toEqual(host[p.name].shape);
      expect(Array.from(back[p.name].data as Float32Array)).toEqual(
        Array.from(host[p.name].data as Float32Array),
      );
    }
    disposeParams(params);
    expect(params.size).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps batch-norm num_batches_tracked counters through import and export', () => {
    const before = tf.memory().numTensors;
    const host = reference(PARAMS);
    host['bn.num_batches_tracked'] = { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) };
    const params = importParams(PARAMS, host);
    expect(params.get('bn.num_batches_tracked')?.dtype).toBe('int32');
    const back = exportParams(PARAMS, params);
    expect(back['bn.num_batches_tracked']).toEqual({ dtype: 'I64', shape: [], data: BigInt64Array.of(7n) });
    disposeParams(params);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [
      'a missing tensor',
      (h: Record<string, HostTensor>) => delete h['bn.running_var'],
      /w: missing tensor 'bn.running_var'/,
    ],
    [
      'an unexpected tensor',
      (h: Record<string, HostTensor>) => (h['cells.9.x'] = h['fc.bias']),
      /w: unexpected tensor 'cells.9.x'/,
    ],
    [
      'a hostile name',
      (h: Record<string, HostTensor>) => (h['__proto__'] = h['fc.bias']),
      /unexpected tensor '__proto__'/,
    ],
    [
      'a counter of an unknown batch norm',
      (h: Record<string, HostTensor>) =>
        (h['nope.num_batches_tracked'] = { dtype: 'I64', shape: [], data: BigInt64Array.of(1n) }),
      /unexpected tensor 'nope.num_batches_tracked'/,
    ],
    [
      'a shape mismatch',
      (h: Record<string, HostTensor>) => (h['conv.weight'] = { ...h['conv.weight'], shape: [3, 2, 4, 2] }),
      /tensor 'conv.weight' has shape \[3, 2, 4, 2\], expected \[3, 2, 2, 4\]/,
    ],
    [
      'an integer weight',
      (h: Record<string, HostTensor>) =>
        (h['fc.bias'] = { dtype: 'I32', shape: [2], data: Int32Array.of(1, 2) }),
      /tensor 'fc.bias' has dtype I32, expected F32/,
    ],
    [
      'a half-precision weight',
      (h: Record<string, HostTensor>) =>
        (h['fc.bias'] = { dtype: 'F16', shape: [2], data: Uint16Array.of(1, 2) }),
      /dtype F16/,
    ],
    [
      'a negative counter',
      (h: Record<string, HostTensor>) =>
        (h['bn.num_batches_tracked'] = { dtype: 'I64', shape: [], data: BigInt64Array.of(-1n) }),
      /holds -1, expected a batch count/,
    ],
  ])('refuses %s with an error naming it, and leaks nothing', (_what, spoil, message) => {
    const before = tf.memory().numTensors;
    const host = reference(PARAMS);
    spoil(host);
    expect(() => importParams(PARAMS, host, 'w')).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('accepts F64 weights', () => {
    const host = reference(PARAMS);
    host['fc.bias'] = { dtype: 'F64', shape: [2], data: Float64Array.of(0.25, -2) };
    const params = importParams(PARAMS, host);
    expect(Array.from((params.get('fc.bias') as tf.Tensor).dataSync())).toEqual([0.25, -2]);
    disposeParams(params);
  });

  it('initialises like PyTorch, reproducibly, and counts only trainable parameters', () => {
    const before = tf.memory().numTensors;
    const a = initParams(PARAMS, 3);
    const b = initParams(PARAMS, 3);
    const c = initParams(PARAMS, 4);
    const values = (m: Map<string, tf.Tensor>, name: string) =>
      Array.from((m.get(name) as tf.Tensor).dataSync());
    expect(values(a, 'conv.weight')).toEqual(values(b, 'conv.weight'));
    expect(values(a, 'conv.weight')).not.toEqual(values(c, 'conv.weight'));
    const bound = 1 / Math.sqrt(2 * 2 * 4);
    expect(values(a, 'conv.weight').every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(values(a, 'bn.weight')).toEqual([1, 1, 1]);
    expect(values(a, 'bn.running_mean')).toEqual([0, 0, 0]);
    expect(values(a, 'bn.running_var')).toEqual([1, 1, 1]);
    expect(countParams(PARAMS)).toBe(3 * 2 * 2 * 4 + 3 * 3 * 2 + 5 * 2 + 2 + 2 * 3);
    [a, b, c].forEach(disposeParams);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('draws normal initialisations (kaiming_normal_) with the asked std, reproducibly', () => {
    const before = tf.memory().numTensors;
    const normal: ParamInfo = { ...convParam('w', 64, 32, 3, 3), init: { kind: 'normal', std: 0.05 } };
    const a = initParams([normal], 7);
    const b = initParams([normal], 7);
    const v = Array.from((a.get('w') as tf.Tensor).dataSync());
    expect(v).toEqual(Array.from((b.get('w') as tf.Tensor).dataSync()));
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(std).toBeGreaterThan(0.045);
    expect(std).toBeLessThan(0.055);
    [a, b].forEach(disposeParams);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('export refuses a map that lacks a tensor or holds the wrong shape', () => {
    const params = initParams(PARAMS, 1);
    const fc = params.get('fc.weight') as tf.Tensor;
    params.set('fc.weight', tf.zeros([2, 5]));
    expect(() => exportParams(PARAMS, params)).toThrow(
      /tensor 'fc.weight' has shape \[2, 5\], expected \[5, 2\]/,
    );
    (params.get('fc.weight') as tf.Tensor).dispose();
    params.set('fc.weight', fc);
    (params.get('bn.bias') as tf.Tensor).dispose();
    params.delete('bn.bias');
    expect(() => exportParams(PARAMS, params)).toThrow(/missing tensor 'bn.bias'/);
    disposeParams(params);
  });
});
