import type { OpName } from './genotype';
import {
  AvgPool,
  BatchNorm,
  Conv,
  Depthwise,
  FactorizedReduce,
  Identity,
  MaxPool3,
  Relu,
  Sequential,
  Zero,
  type Module,
} from './layers';

/**
 * Builds one edge operation on C channels at stride 1 or 2. `prefix` is the edge's name in the
 * network (`cells.{i}._ops.{e}`); parameters are named below it exactly as in the reference.
 */
export type OpFactory = (c: number, stride: 1 | 2, prefix: string) => Module;

function sepConv(k: number): OpFactory {
  const pad = Math.floor(k / 2);
  return (c, stride, prefix) =>
    new Sequential([
      new Relu(),
      new Depthwise(`${prefix}.op.1`, c, k, stride, pad, 1),
      new Conv(`${prefix}.op.2`, c, c, [1, 1], [1, 1], [0, 0]),
      new BatchNorm(`${prefix}.op.3`, c),
      new Relu(),
      new Depthwise(`${prefix}.op.5`, c, k, 1, pad, 1),
      new Conv(`${prefix}.op.6`, c, c, [1, 1], [1, 1], [0, 0]),
      new BatchNorm(`${prefix}.op.7`, c),
    ]);
}

function dilConv(k: number): OpFactory {
  const dilation = 2;
  const pad = (dilation * (k - 1)) / 2;
  return (c, stride, prefix) =>
    new Sequential([
      new Relu(),
      new Depthwise(`${prefix}.op.1`, c, k, stride, pad, dilation),
      new Conv(`${prefix}.op.2`, c, c, [1, 1], [1, 1], [0, 0]),
      new BatchNorm(`${prefix}.op.3`, c),
    ]);
}

/** The whole search space: every op of design/RELATIVENAS.md section 3, and nothing else branches on names. */
export const OPS: Readonly<Record<OpName, OpFactory>> = {
  none: (_c, stride) => new Zero(stride),
  max_pool_3x3: (_c, stride) => new MaxPool3(stride),
  avg_pool_3x3: (_c, stride) => new AvgPool('avg_pool_3x3', 3, stride, 1),
  skip_connect: (c, stride, prefix) => (stride === 1 ? new Identity() : new FactorizedReduce(prefix, c, c)),
  sep_conv_3x3: sepConv(3),
  sep_conv_5x5: sepConv(5),
  sep_conv_7x7: sepConv(7),
  dil_conv_3x3: dilConv(3),
  dil_conv_5x5: dilConv(5),
  // The reference builds this op as a bare nn.Sequential, not a module holding one in `.op`, so its
  // layers are named `{prefix}.1`, `.2`, `.3` with no `op.` in between.
  conv_7x1_1x7: (c, stride, prefix) =>
    new Sequential([
      new Relu(),
      new Conv(`${prefix}.1`, c, c, [1, 7], [1, stride], [0, 3]),
      new Conv(`${prefix}.2`, c, c, [7, 1], [stride, 1], [3, 0]),
      new BatchNorm(`${prefix}.3`, c),
    ]),
};
