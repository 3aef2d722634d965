import { initBackend, readSafetensors, tf, type BackendName, type Tensor4D } from '@rnas/engine';
import { derivedTensorCount } from './derived';
import { dropPath } from './cell';
import type { Genotype, OpName } from './genotype';
import { getPublishedGenotype, PUBLISHED_GENOTYPE_NAMES } from './genotypes';
import { Network, type NetworkSpec } from './network';
import { readSpecFile } from './network-spec';
import { disposeParams, importParams, initParams } from './params';
import { parityFixture } from '@rnas/fixtures';
import { nhwc, relError } from './test-util';

const BACKENDS: BackendName[] = ['cpu', 'wasm'];

/** Trainable parameters of one op, from the op table of design/RELATIVENAS.md section 3. */
function opCount(op: OpName, c: number, stride: number): number {
  const bn = 2 * c;
  switch (op) {
    case 'none':
    case 'max_pool_3x3':
    case 'avg_pool_3x3':
      return 0;
    case 'skip_connect':
      return stride === 1 ? 0 : 2 * c * (c / 2) + bn;
    case 'sep_conv_3x3':
    case 'sep_conv_5x5':
    case 'sep_conv_7x7': {
      const k = Number(op[9]);
      return 2 * (c * k * k + c * c + bn);
    }
    case 'dil_conv_3x3':
    case 'dil_conv_5x5': {
      const k = Number(op[9]);
      return c * k * k + c * c + bn;
    }
    case 'conv_7x1_1x7':
      return 2 * 7 * c * c + bn;
  }
}

/** The reference networks' trainable parameter count, following their constructors step by step. */
function referenceCount(
  g: Genotype,
  variant: 'cifar' | 'imagenet',
  c: number,
  layers: number,
  k: number,
  aux: boolean,
) {
  let total: number;
  let [cpp, cp, reductionPrev] = [0, 0, false];
  if (variant === 'cifar') {
    total = 3 * 3 * c * 9 + 2 * 3 * c;
    [cpp, cp] = [3 * c, 3 * c];
  } else {
    total = 3 * (c / 2) * 9 + c + (c / 2) * c * 9 + 2 * c + c * c * 9 + 2 * c;
    [cpp, cp, reductionPrev] = [c, c, true];
  }
  let cc = c;
  let cAux = 0;
  for (let i = 0; i < layers; i++) {
    const red = i === Math.floor(layers / 3) || i === Math.floor((2 * layers) / 3);
    if (red) cc *= 2;
    // ReLUConvBN and FactorizedReduce both hold Cin·Cout weights and a batch norm.
    total += cpp * cc + 2 * cc + cp * cc + 2 * cc;
    for (const [op, input] of red ? g.reduce : g.normal) total += opCount(op, cc, red && input < 2 ? 2 : 1);
    [cpp, cp, reductionPrev] = [cp, (red ? g.reduceConcat : g.normalConcat).length * cc, red];
    if (i === Math.floor((2 * layers) / 3)) cAux = cp;
  }
  void reductionPrev;
  total += cp * k + k;
  if (aux) total += cAux * 128 + 256 + 128 * 768 * 4 + (variant === 'cifar' ? 1536 : 0) + 768 * k + k;
  return total;
}

function spec(overrides: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    variant: 'cifar',
    genotype: getPublishedGenotype('DARTS_V2'),
    channels: 36,
    layers: 20,
    classes: 10,
    inChannels: 3,
    auxiliary: false,
    ...overrides,
  };
}

// darts_v2: the design's fixture. amoebanet: written by libs/fixtures/reference/make_fixtures.py
// from the authors' model.py; 5-step cells with conv_7x1_1x7 (a bare nn.Sequential in the reference:
// `_ops.{e}.1.weight`, no `op.`) and sep_conv_7x7.
describe.each(['darts_v2_cifar_c8_l5', 'amoebanet_cifar_c8_l5'])('%s inference parity', (name) => {
  it.each(BACKENDS)('reproduces the reference logits on %s', async (backend) => {
    await initBackend(backend);
    const fixture = await readSpecFile(parityFixture(`${name}.spec.json`));
    const weights = await readSafetensors(parityFixture(`${name}.weights.safetensors`));
    const io = await readSafetensors(parityFixture(`${name}.io.safetensors`));
    const before = tf.memory().numTensors;
    const net = new Network(fixture.network);
    const params = importParams(net.params, weights.tensors);
    // Every tensor of the reference state dict is used (with its batch counters, when it has them).
    expect(params.size).toBe(Object.keys(weights.tensors).length);
    const x = nhwc(io.tensors.input);
    const { logits, logitsAux } = net.forward(params, x, { bnEps: fixture.bnEps });
    const err = relError(logits.dataSync(), io.tensors.logits.data as Float32Array);
    console.log(`${name} forward parity on ${backend}: relative error ${err.toExponential(2)}`);
    expect(logitsAux).toBeNull();
    expect(logits.shape).toEqual([2, 10]);
    expect(err).toBeLessThan(1e-4);
    tf.dispose([logits, x]);
    disposeParams(params);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('parameter counts', () => {
  it('match the published DARTS_V2 numbers', () => {
    expect(new Network(spec()).countParams()).toBe(3349342);
    const withAux = new Network(spec({ auxiliary: true }));
    expect(withAux.countParams({ auxiliary: true })).toBe(3825768);
    expect(withAux.countParams()).toBe(3349342);
  });

  it.each(
    PUBLISHED_GENOTYPE_NAMES.flatMap((name) => [
      [name, 'cifar', 36, 20, 10] as const,
      [name, 'imagenet', 48, 14, 1000] as const,
    ]),
  )(
    '%s %s C=%i L=%i matches its reference definition, with and without the auxiliary head',
    (name, variant, c, layers, classes) => {
      const g = getPublishedGenotype(name);
      const net = new Network(spec({ genotype: g, variant, channels: c, layers, classes, auxiliary: true }));
      expect(net.countParams()).toBe(referenceCount(g, variant, c, layers, classes, false));
      expect(net.countParams({ auxiliary: true })).toBe(referenceCount(g, variant, c, layers, classes, true));
    },
  );

  it('names every parameter structurally and once', () => {
    const net = new Network(spec({ auxiliary: true }));
    const names = net.params.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) {
      expect(n).toMatch(
        /^(stem\.[01]\.|cells\.\d+\.(preprocess[01]\.(op\.[12]\.|conv_[12]\.|bn\.)|_ops\.\d+\.(op\.\d\.|conv_[12]\.|bn\.))|classifier\.|auxiliary_head\.(features\.[2356]\.|classifier\.))(weight|bias|running_mean|running_var)$/,
      );
    }
  });
});

describe('multiply-adds', () => {
  it('count the convolutions and linear layers of a network on a given input size', () => {
    const g: Genotype = {
      normal: [
        ['skip_connect', 0],
        ['skip_connect', 1],
      ],
      normalConcat: [2],
      reduce: [
        ['max_pool_3x3', 0],
        ['max_pool_3x3', 1],
      ],
      reduceConcat: [2],
    };
    const net = new Network(spec({ genotype: g, channels: 4, layers: 3 }));
    // stem 3->12 at 8x8; cell 0: two 12->4 1x1 at 8x8; cell 1: 12->8 and 4->8 at 8x8;
    // cell 2: FactorizedReduce 4->16 (two 4->8 at 4x4) and 8->16 at 4x4; classifier 16->10.
    const expected =
      64 * 12 * 27 + 2 * 64 * 4 * 12 + 64 * 8 * 12 + 64 * 8 * 4 + 2 * 16 * 8 * 4 + 16 * 16 * 8 + 160;
    const t = net.trace(8, 8);
    expect(t.macs).toBe(expected);
    expect(t.cellShapes).toEqual([
      [8, 8, 4],
      [4, 4, 8],
      [2, 2, 16],
    ]);
    expect(new Network(spec()).trace(32, 32).macs).toBe(528359040);
  });
});

describe('networks', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('builds the ImageNet network: strides, auxiliary head in training only, no leaks', () => {
    const net = new Network(
      spec({ variant: 'imagenet', channels: 4, layers: 3, classes: 5, auxiliary: true }),
    );
    expect(net.trace(224, 224).cellShapes).toEqual([
      [28, 28, 16],
      [14, 14, 32],
      [7, 7, 64],
    ]);
    expect(net.params.some((p) => p.name === 'auxiliary_head.features.6.weight')).toBe(false);
    const before = tf.memory().numTensors;
    const params = initParams(net.params, 1);
    const x = tf.randomNormal([2, 224, 224, 3], 0, 1, 'float32', 1) as Tensor4D;
    const inference = net.forward(params, x);
    expect(inference.logits.shape).toEqual([2, 5]);
    expect(inference.logitsAux).toBeNull();
    const training = net.forward(params, x, { training: true });
    expect(training.logitsAux?.shape).toEqual([2, 5]);
    tf.dispose([x, inference.logits, training.logits, training.logitsAux as tf.Tensor]);
    disposeParams(params);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => net.trace(64, 64)).toThrow(
      /auxiliary_head.features.1: input size 2 is too small for a 5-wide window/,
    );
  });

  it('runs the CIFAR auxiliary head in training mode and reports each batch norm once', () => {
    const net = new Network(spec({ channels: 4, layers: 3, auxiliary: true }));
    const params = initParams(net.params, 2);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 2) as Tensor4D;
    const seen: string[] = [];
    const out = net.forward(params, x, { training: true, onBatchStats: (name) => seen.push(name) });
    expect(out.logitsAux?.shape).toEqual([2, 10]);
    const bns = net.params.filter((p) => p.name.endsWith('.running_mean')).map((p) => p.name.slice(0, -13));
    expect(seen.sort()).toEqual(bns.sort());
    tf.dispose([x, out.logits, out.logitsAux as tf.Tensor]);
    disposeParams(params);
  });

  it('drop path zeroes whole samples and scales the others, driven by the caller’s random source', () => {
    const before = tf.memory().numTensors;
    const x = tf.ones([3, 2, 2, 1]) as Tensor4D;
    const draws = [0.1, 0.95, 0.5];
    const y = tf.tidy(() => dropPath(x, 0.4, () => draws.shift() as number));
    expect(Array.from(y.dataSync())).toEqual(
      [...Array(4).fill(1 / 0.6), ...Array(4).fill(0), ...Array(4).fill(1 / 0.6)].map(Math.fround),
    );
    tf.dispose([x, y]);
    const net = new Network(spec({ channels: 4, layers: 3 }));
    const params = initParams(net.params, 3);
    const img = tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 4) as Tensor4D;
    const run = (prob: number, seed: number) => {
      let state = seed;
      const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
      const { logits } = net.forward(params, img, { training: true, dropPath: { prob, random } });
      const v = Array.from(logits.dataSync());
      logits.dispose();
      return v;
    };
    const plain = net.forward(params, img, { training: true });
    expect(run(0, 1)).toEqual(Array.from(plain.logits.dataSync()));
    expect(run(0.3, 7)).toEqual(run(0.3, 7));
    expect(run(0.3, 7)).not.toEqual(run(0, 7));
    tf.dispose([img, plain.logits]);
    disposeParams(params);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [{ variant: 'mnist' as 'cifar' }, /variant must be 'cifar' or 'imagenet', got 'mnist'/],
    [{ channels: 0 }, /channels must be an integer in \[1, 4096\], got 0/],
    [{ layers: 2.5 }, /layers must be an integer in \[1, 1024\], got 2.5/],
    [{ classes: 2 ** 40 }, /classes must be an integer in \[1, 1000000\], got 1099511627776/],
    [{ channels: Number.NaN }, /channels must be an integer in \[1, 4096\], got NaN/],
    [{ variant: 'imagenet' as const, channels: 5 }, /must be even, got 5/],
    [
      {
        genotype: {
          ...getPublishedGenotype('DARTS_V2'),
          normal: [
            ['sep_conv_3x3', 0],
            ['sep_conv_3x3', 3],
          ],
        } as Genotype,
      },
      /normal\[1\]: input 3 out of range 0..1/,
    ],
  ])('refuses a bad spec %#', (overrides, message) => {
    expect(() => new Network(spec(overrides))).toThrow(message);
  });

  it('refuses inputs the network cannot take, before computing anything', () => {
    const net = new Network(spec({ channels: 4, layers: 5 }));
    const start = tf.memory().numTensors;
    const params = initParams(net.params, 1);
    // What inference derives from the parameters (folded batch norms) is kept with them.
    const before = tf.memory().numTensors - derivedTensorCount();
    const gray = tf.zeros([1, 16, 16, 1]) as Tensor4D;
    expect(() => net.forward(params, gray)).toThrow(
      /input: expected 3 channels \(NHWC\), got shape \[1, 16, 16, 1\]/,
    );
    const odd = tf.zeros([1, 9, 9, 3]) as Tensor4D;
    expect(() => net.forward(params, odd)).toThrow(
      /cells.2.preprocess0: FactorizedReduce needs an even input size, got 9x9/,
    );
    const missing = new Map(params);
    missing.delete('classifier.bias');
    const ok = tf.zeros([1, 8, 8, 3]) as Tensor4D;
    expect(() => net.forward(missing, ok)).toThrow(/parameters: missing tensor 'classifier.bias'/);
    tf.dispose([gray, odd, ok]);
    expect(tf.memory().numTensors - derivedTensorCount()).toBe(before);
    disposeParams(params);
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('backbone taps', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('builds the ImageNet backbone without classifier or auxiliary head, under a name prefix', () => {
    const s = spec({ variant: 'imagenet', channels: 4, layers: 5, classes: 7, auxiliary: true });
    const full = new Network(s);
    const backbone = new Network(s, { classifier: false, paramPrefix: 'base_net.' });
    const kept = full.params.filter((p) => !/^(classifier|auxiliary_head)\./.test(p.name));
    expect(backbone.params.map((p) => p.name)).toEqual(kept.map((p) => `base_net.${p.name}`));
    expect(backbone.params.map((p) => p.shape)).toEqual(kept.map((p) => p.shape));
    expect(backbone.params[0].name).toBe('base_net.stem0.0.weight');
    expect(backbone.countParams({ auxiliary: true })).toBe(full.countParams() - (16 * 4 * 7 + 7));
    // Strides 8, 16 and 32 with 4C, 8C and 16C channels; no 7x7 pooling demanded at the end.
    expect(backbone.trace(64, 64).tapShapes).toEqual([
      [8, 8, 16],
      [4, 4, 32],
      [2, 2, 64],
    ]);
    expect(() => new Network({ ...s, auxiliary: false }).trace(64, 64)).toThrow(/global_pooling/);
    // Reduction cells 4 and 9 of the reference's 14: taps are cells 3, 8 and 13.
    const ref = new Network({ ...s, channels: 46, layers: 14 }, { classifier: false });
    const t = ref.trace(320, 320);
    expect(t.tapShapes).toEqual([t.cellShapes[3], t.cellShapes[8], t.cellShapes[13]]);
    expect(t.tapShapes).toEqual([
      [40, 40, 184],
      [20, 20, 368],
      [10, 10, 736],
    ]);
    // With two cells the first reduction is cell 0: its tap is the stem's output.
    const two = new Network({ ...s, layers: 2 }, { classifier: false }).trace(64, 64);
    expect(two.tapShapes).toEqual([[8, 8, 4], two.cellShapes[0], two.cellShapes[1]]);
  });

  it('returns the tapped feature maps, the last one the classifier’s input, and frees the rest', () => {
    const s = spec({ channels: 4, layers: 5 });
    const full = new Network(s);
    const backbone = new Network(s, { classifier: false });
    const params = initParams(full.params, 5);
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 5) as Tensor4D;
    const before = tf.memory().numTensors - derivedTensorCount();
    const taps = backbone.taps(params, x);
    expect(taps.map((t) => t.shape.slice(1))).toEqual(backbone.trace(16, 16).tapShapes);
    expect(tf.memory().numTensors - derivedTensorCount()).toBe(before + 3);
    const { logits } = full.forward(params, x);
    const fromTap = tf.tidy(() =>
      tf.add(
        tf.matMul(tf.mean(taps[2], [1, 2]), params.get('classifier.weight') as tf.Tensor2D),
        params.get('classifier.bias') as tf.Tensor,
      ),
    );
    expect(relError(fromTap.dataSync(), logits.dataSync())).toBeLessThan(1e-6);
    tf.dispose([...taps, logits, fromTap]);
    expect(tf.memory().numTensors - derivedTensorCount()).toBe(before);
    expect(() => backbone.forward(params, x)).toThrow(
      /built without its classifier \(a backbone\): use taps\(\)/,
    );
    const odd = tf.zeros([1, 9, 9, 3]) as Tensor4D;
    expect(() => backbone.taps(params, odd)).toThrow(/FactorizedReduce needs an even input size, got 9x9/);
    tf.dispose([x, odd]);
    disposeParams(params);
  });
});
