import { initBackend, tf, type Tensor, type Tensor4D } from '@rnas/engine';
import { OP_NAMES, type OpName } from './genotype';
import { Identity, type ForwardContext } from './layers';
import { OPS } from './ops';
import { countParams, initParams } from './params';

/** Parameter names and reference shapes of each op on C channels (design/RELATIVENAS.md section 3). */
function expectedParams(op: OpName, c: number, stride: 1 | 2): Record<string, number[]> {
  const bn = (k: string) => ({
    [`e.${k}.weight`]: [c],
    [`e.${k}.bias`]: [c],
    [`e.${k}.running_mean`]: [c],
    [`e.${k}.running_var`]: [c],
  });
  const sep = (k: number) => ({
    'e.op.1.weight': [c, 1, k, k],
    'e.op.2.weight': [c, c, 1, 1],
    ...bn('op.3'),
    'e.op.5.weight': [c, 1, k, k],
    'e.op.6.weight': [c, c, 1, 1],
    ...bn('op.7'),
  });
  const dil = (k: number) => ({
    'e.op.1.weight': [c, 1, k, k],
    'e.op.2.weight': [c, c, 1, 1],
    ...bn('op.3'),
  });
  switch (op) {
    case 'none':
    case 'max_pool_3x3':
    case 'avg_pool_3x3':
      return {};
    case 'skip_connect':
      return stride === 1
        ? {}
        : { 'e.conv_1.weight': [c / 2, c, 1, 1], 'e.conv_2.weight': [c / 2, c, 1, 1], ...bn('bn') };
    case 'sep_conv_3x3':
      return sep(3);
    case 'sep_conv_5x5':
      return sep(5);
    case 'sep_conv_7x7':
      return sep(7);
    case 'dil_conv_3x3':
      return dil(3);
    case 'dil_conv_5x5':
      return dil(5);
    case 'conv_7x1_1x7':
      return { 'e.1.weight': [c, c, 1, 7], 'e.2.weight': [c, c, 7, 1], ...bn('3') };
  }
}

const ctx = (params: Map<string, Tensor>): ForwardContext => ({
  training: false,
  bnEps: 1e-5,
  dropPath: null,
  recompute: false,
  param: (name) => params.get(name) as Tensor,
  recordBatchStats: () => undefined,
});

describe('OPS', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('has one factory for every op name and nothing else', () => {
    expect(Object.keys(OPS).sort()).toEqual([...OP_NAMES].sort());
  });

  it.each(OP_NAMES.flatMap((op) => [1, 2].map((s) => [op, s] as [OpName, 1 | 2])))(
    '%s at stride %i has the reference parameters and output shape',
    (op, stride) => {
      const c = 6;
      const module = OPS[op](c, stride, 'e');
      const got = Object.fromEntries(module.params.map((p) => [p.name, [...p.refShape]]));
      expect(got).toEqual(expectedParams(op, c, stride));
      expect(module instanceof Identity).toBe(op === 'skip_connect' && stride === 1);
      const before = tf.memory().numTensors;
      const params = initParams(module.params, 1);
      const x = tf.randomNormal([2, 7, 7, c], 0, 1, 'float32', 3) as Tensor4D;
      if (op === 'skip_connect' && stride === 2) {
        expect(() => module.trace([7, 7, c])).toThrow(/even input size/);
      } else {
        const y = tf.tidy(() => module.apply(x, ctx(params)));
        const size = stride === 1 ? 7 : 4;
        expect(y.shape).toEqual([2, size, size, c]);
        expect(module.trace([7, 7, c]).shape).toEqual([size, size, c]);
        if (op === 'none') expect(Math.max(...Array.from(y.dataSync(), Math.abs))).toBe(0);
        y.dispose();
      }
      x.dispose();
      for (const t of params.values()) t.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('counts parameters and multiply-adds as the op definitions give them', () => {
    const c = 16;
    const sep = (k: number) => 2 * (c * k * k + c * c + 2 * c);
    expect(countParams(OPS.sep_conv_3x3(c, 1, 'e').params)).toBe(sep(3));
    expect(countParams(OPS.sep_conv_7x7(c, 2, 'e').params)).toBe(sep(7));
    expect(countParams(OPS.dil_conv_5x5(c, 1, 'e').params)).toBe(c * 25 + c * c + 2 * c);
    expect(countParams(OPS.conv_7x1_1x7(c, 1, 'e').params)).toBe(14 * c * c + 2 * c);
    expect(countParams(OPS.skip_connect(c, 2, 'e').params)).toBe(c * c + 2 * c);
    // sep_conv_3x3 stride 2 on 8x8: depthwise at 4x4 twice, pointwise at 4x4 twice.
    expect(OPS.sep_conv_3x3(c, 2, 'e').trace([8, 8, c]).macs).toBe(2 * (16 * c * 9 + 16 * c * c));
    expect(OPS.max_pool_3x3(c, 1, 'e').trace([8, 8, c]).macs).toBe(0);
  });

  it('counts the activations a training forward makes', () => {
    const c = 16;
    const map = 4 * 4 * c;
    // sep_conv stride 2 on 8x8: ReLU at 8x8, then depthwise, pointwise and batch norm at 4x4;
    // again ReLU, depthwise, pointwise, batch norm at 4x4.
    expect(OPS.sep_conv_3x3(c, 2, 'e').trace([8, 8, c]).activations).toBe(4 * map + 3 * map + 4 * map);
    expect(OPS.max_pool_3x3(c, 2, 'e').trace([8, 8, c]).activations).toBe(map);
    expect(OPS.skip_connect(c, 1, 'e').trace([8, 8, c]).activations).toBe(0);
    // Avg pool with padding: the padded input, the pooled sums and the divided output.
    expect(OPS.avg_pool_3x3(c, 1, 'e').trace([8, 8, c]).activations).toBe(10 * 10 * c + 2 * 8 * 8 * c);
  });
});
