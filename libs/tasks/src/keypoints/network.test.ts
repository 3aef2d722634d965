import { initBackend, tf, type Tensor4D } from '@rnas/engine';
import {
  countParams,
  disposeParams,
  forwardContext,
  getPublishedGenotype,
  initParams,
  type NetworkSpec,
  type ParamMap,
  tensorsBesidesDerived,
} from '@rnas/nas';
import type { TaskModelSpec } from '../task';
import { SIMPLEBASELINE_CONFIG, type KeypointConfigInput } from './config';
import { decodeHeatmaps } from './decode';
import { flipPermutation, isKeypointBackboneParam, KeypointNetwork } from './network';
import { Deconv, HEAD_INIT_STD, SimpleBaselineHead } from './simplebaseline';

function backbone(overrides: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    variant: 'imagenet',
    genotype: getPublishedGenotype('RelativeNAS'),
    channels: 4,
    layers: 3,
    classes: 3,
    inChannels: 3,
    auxiliary: false,
    ...overrides,
  };
}

const TINY: KeypointConfigInput = {
  inputHeight: 64,
  inputWidth: 32,
  keypointNames: ['left', 'right', 'middle'],
  flipPairs: [[0, 1]],
  oksSigmas: [0.05, 0.05, 0.05],
};

function poseSpec(net: Partial<NetworkSpec> = {}, keypoints: KeypointConfigInput = TINY): TaskModelSpec {
  return { task: 'keypoints', network: backbone(net), keypoints: { ...SIMPLEBASELINE_CONFIG, ...keypoints } };
}

const count = (net: KeypointNetwork, prefix: string) =>
  countParams(net.params.filter((p) => p.name.startsWith(prefix)));

describe('KeypointNetwork structure', () => {
  it('has the reference head at C=46 with 17 keypoints: 5,117,713 parameters, 64x48 heatmaps', () => {
    const net = new KeypointNetwork(
      poseSpec({ channels: 46, layers: 14, classes: 17 }, { inputHeight: 256, inputWidth: 192 }),
    );
    expect(net.countParams() - count(net, 'backbone.')).toBe(5_117_713);
    expect(count(net, 'deconv_layers.') + count(net, 'final_layer.')).toBe(5_117_713);
    expect(net.heatmapShape).toEqual([64, 48, 17]);
    expect(net.outputSize).toBe(17 * 3);
    const shape = (name: string) => net.params.find((p) => p.name === name);
    expect(shape('deconv_layers.0.weight')?.refShape).toEqual([736, 256, 4, 4]);
    expect(shape('deconv_layers.0.weight')?.shape).toEqual([4, 4, 256, 736]);
    expect(shape('deconv_layers.0.weight')?.init).toEqual({ kind: 'normal', std: HEAD_INIT_STD });
    expect(shape('deconv_layers.7.running_var')?.shape).toEqual([256]);
    expect(shape('final_layer.weight')?.refShape).toEqual([17, 256, 1, 1]);
    expect(shape('final_layer.bias')?.init).toEqual({ kind: 'constant', value: 0 });
    const groups = [...new Set(net.params.map((p) => p.name.split('.')[0]))];
    expect(groups).toEqual(['backbone', 'deconv_layers', 'final_layer']);
    expect(net.params.some((p) => /classifier|auxiliary/.test(p.name))).toBe(false);
    expect(net.backboneParamNames().every(isKeypointBackboneParam)).toBe(true);
    expect(countParams(net.params.filter((p) => net.backboneParamNames().includes(p.name)))).toBe(
      count(net, 'backbone.'),
    );
  });

  it('resolves the config into its spec and takes only crops of its size', () => {
    const net = new KeypointNetwork(poseSpec());
    expect(net.spec.keypoints.keypointNames).toEqual(['left', 'right', 'middle']);
    expect(net.heatmapShape).toEqual([16, 8, 3]);
    expect(() => net.checkInput(64, 32)).not.toThrow();
    expect(() => net.checkInput(32, 64)).toThrow(
      /keypoints: input is 32x64, this network takes 64x32 \(keypoints.inputHeight x inputWidth\)/,
    );
    const plain = new KeypointNetwork({ task: 'keypoints', network: backbone() });
    expect(plain.config).toEqual(SIMPLEBASELINE_CONFIG);
  });

  it.each([
    [{ task: 'detection' } as Partial<TaskModelSpec>, /task is 'detection', expected 'keypoints'/],
    [{ network: backbone({ variant: 'cifar' }) }, /network.variant must be 'imagenet'/],
    [{ network: backbone({ auxiliary: true }) }, /network.auxiliary must be false/],
    [
      { network: backbone({ classes: 4 }) },
      /network.classes is 4, keypoints.keypointNames names 3 keypoints/,
    ],
    [{ network: backbone({ classes: 0 }) }, /network.classes \(the keypoints\) must be in \[1, 100\], got 0/],
    [{ network: backbone({ classes: 1e6 }) }, /must be in \[1, 100\], got 1000000/],
    [{ keypoints: { inputHeight: 100 } as never }, /keypoints.inputHeight: expected a multiple of 32/],
    [{ keypoints: { flipPairs: [[0, 7]], keypointNames: ['a', 'b'] } as never }, /keypoints.flipPairs/],
    [{ keypoints: 'pose' as never }, /keypoints: expected an object/],
  ])('refuses a bad spec %#', (overrides, message) => {
    expect(() => new KeypointNetwork({ ...poseSpec(), ...overrides } as TaskModelSpec)).toThrow(message);
  });

  it('refuses flip pairs outside the keypoints when the dataset names are not set', () => {
    expect(
      () =>
        new KeypointNetwork({
          task: 'keypoints',
          network: backbone({ classes: 2 }),
          keypoints: { ...SIMPLEBASELINE_CONFIG, flipPairs: [[0, 2]] },
        }),
    ).toThrow(/keypoints.flipPairs: expected distinct indices below 2, got \[0, 2\]/);
    expect(flipPermutation(5, [[1, 2]])).toEqual([0, 2, 1, 3, 4]);
  });
});

/** PyTorch's ConvTranspose2d(k4, s2, p1) by its definition, NHWC input and [k, k, out, in] weights. */
function referenceDeconv(
  x: Float32Array,
  [n, h, w, cin]: number[],
  weight: Float32Array,
  cout: number,
): Float32Array {
  const ho = 2 * h;
  const wo = 2 * w;
  const out = new Float32Array(n * ho * wo * cout);
  for (let b = 0; b < n; b++)
    for (let iy = 0; iy < h; iy++)
      for (let ix = 0; ix < w; ix++)
        for (let ky = 0; ky < 4; ky++)
          for (let kx = 0; kx < 4; kx++) {
            const oy = iy * 2 - 1 + ky;
            const ox = ix * 2 - 1 + kx;
            if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
            for (let o = 0; o < cout; o++)
              for (let i = 0; i < cin; i++) {
                out[((b * ho + oy) * wo + ox) * cout + o] +=
                  x[((b * h + iy) * w + ix) * cin + i] * weight[((ky * 4 + kx) * cout + o) * cin + i];
              }
          }
  return out;
}

describe('KeypointNetwork on the tensor engine', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('deconvolves as ConvTranspose2d(4, stride 2, padding 1) with the weight [k, k, out, in]', () => {
    const deconv = new Deconv('d', 3, 2);
    const params: ParamMap = new Map([['d.weight', tf.randomNormal([4, 4, 2, 3], 0, 1, 'float32', 7)]]);
    const x = tf.randomNormal([2, 3, 5, 3], 0, 1, 'float32', 8) as Tensor4D;
    const before = tensorsBesidesDerived();
    const y = deconv.apply(x, forwardContext(params));
    expect(y.shape).toEqual([2, 6, 10, 2]);
    expect(deconv.trace([3, 5, 3]).shape).toEqual([6, 10, 2]);
    const want = referenceDeconv(
      x.dataSync() as Float32Array,
      [2, 3, 5, 3],
      params.get('d.weight')?.dataSync() as Float32Array,
      2,
    );
    const got = y.dataSync();
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
    y.dispose();
    expect(tensorsBesidesDerived()).toBe(before);
    tf.dispose([x, ...params.values()]);
  });

  it('initialises the head as the reference: N(0, 0.001) weights, zero bias, BN 1 and 0', () => {
    const head = new SimpleBaselineHead(8, 2);
    const params = initParams(head.params, 3);
    const final = Array.from(params.get('final_layer.weight')?.dataSync() ?? []);
    expect(Math.max(...final.map(Math.abs))).toBeLessThan(0.006);
    expect(Array.from(params.get('final_layer.bias')?.dataSync() ?? [])).toEqual([0, 0]);
    expect(new Set(params.get('deconv_layers.4.weight')?.dataSync()).size).toBe(1);
    expect(params.get('deconv_layers.4.weight')?.dataSync()[0]).toBe(1);
    disposeParams(params);
  });

  it('outputs quarter-size heatmaps in both modes and frees its intermediates', () => {
    const net = new KeypointNetwork(poseSpec());
    const params = initParams(net.params, 1);
    const x = tf.randomNormal([2, 64, 32, 3], 0, 1, 'float32', 2) as Tensor4D;
    const before = tensorsBesidesDerived();
    const stats: string[] = [];
    const train = net.forward(params, x, {
      training: true,
      onBatchStats: (name) => {
        stats.push(name);
      },
    });
    expect(train.shape).toEqual([2, 16, 8, 3]);
    expect(stats).toContain('deconv_layers.7');
    expect(stats.some((s) => s.startsWith('backbone.'))).toBe(true);
    const heatmaps = net.forward(params, x);
    expect(heatmaps.shape).toEqual([2, 16, 8, 3]);
    tf.dispose([train, heatmaps]);
    expect(tensorsBesidesDerived()).toBe(before);
    const wrong = tf.zeros([1, 32, 32, 3]) as Tensor4D;
    expect(() => net.infer(params, wrong)).toThrow(/input is 32x32, this network takes 64x32/);
    expect(tensorsBesidesDerived()).toBe(before + 1);
    tf.dispose([x, wrong]);
    disposeParams(params);
  });

  it('averages with the mirrored crop: flipped back, pairs swapped, shifted one column right', () => {
    const spec = poseSpec();
    const flip = new KeypointNetwork(spec);
    const plain = new KeypointNetwork({ ...spec, keypoints: { ...spec.keypoints!, flipTest: false } });
    const params = initParams(flip.params, 4);
    // Larger final weights so that the heatmaps differ visibly between the crop and its mirror.
    params.get('final_layer.weight')?.dispose();
    params.set('final_layer.weight', tf.randomNormal([1, 1, 256, 3], 0, 0.1, 'float32', 5));
    const x = tf.randomNormal([2, 64, 32, 3], 0, 1, 'float32', 6) as Tensor4D;
    const mirrored = tf.reverse(x, 2) as Tensor4D;
    const before = tensorsBesidesDerived();
    const a = plain.forward(params, x);
    const b = plain.forward(params, mirrored);
    const [n, h, w, k] = a.shape;
    const av = a.dataSync();
    const bv = b.dataSync();
    const want = new Float32Array(av.length);
    const perm = [1, 0, 2];
    for (let i = 0; i < n; i++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++)
          for (let j = 0; j < k; j++) {
            // Shifted right: column x reads the flipped-back column x - 1 (column 0 keeps its own).
            const src = Math.max(xx - 1, 0);
            const flipped = bv[((i * h + y) * w + (w - 1 - src)) * k + perm[j]];
            want[((i * h + y) * w + xx) * k + j] = (av[((i * h + y) * w + xx) * k + j] + flipped) / 2;
          }
    const got = flip.inferHeatmaps(params, x);
    const gv = got.dataSync();
    want.forEach((v, i) => expect(gv[i]).toBeCloseTo(v, 5));
    const records = flip.infer(params, x);
    expect(records).toEqual(decodeHeatmaps(gv as Float32Array, [n, h, w, k], 4));
    expect(records.length).toBe(2 * flip.outputSize);
    const noFlip = plain.infer(params, x);
    expect(noFlip).toEqual(decodeHeatmaps(av as Float32Array, [n, h, w, k], 4));
    tf.dispose([a, b, got]);
    expect(tensorsBesidesDerived()).toBe(before);
    tf.dispose([x, mirrored]);
    disposeParams(params);
  });
});
