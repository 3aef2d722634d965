import { gradients, initBackend, tf, type Tensor, type Tensor4D } from '@rnas/engine';
import {
  countParams,
  disposeParams,
  getPublishedGenotype,
  initParams,
  Network,
  type BatchStats,
  type NetworkSpec,
  type ParamMap,
  tensorsBesidesDerived,
} from '@rnas/nas';
import type { TaskModelSpec } from '../task';
import { taskNetwork } from '../networks';
import { BISENET_CONFIG, type SegmentationConfigInput } from './config';
import { pixelLabels, segmentationLoss } from './loss';
import { isBackboneParam, labelMap, SegmentationNetwork } from './network';

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

function segmenter(
  net: Partial<NetworkSpec> = {},
  segmentation: SegmentationConfigInput = { inputHeight: 64, inputWidth: 64 },
): TaskModelSpec {
  return {
    task: 'segmentation',
    network: backbone(net),
    segmentation: { ...BISENET_CONFIG, ...segmentation },
  };
}

const count = (seg: SegmentationNetwork, test: (name: string) => boolean) =>
  countParams(seg.params.filter((p) => test(p.name)));

describe('SegmentationNetwork structure', () => {
  const seg = new SegmentationNetwork(
    segmenter({ channels: 46, layers: 14, classes: 19 }, { inputHeight: 1024, inputWidth: 1024 }),
  );
  const shape = (name: string) => seg.params.find((p) => p.name === name)?.refShape;

  it('has the reference head at C=46 and 19 classes: 2,631,616 parameters outside the backbone', () => {
    expect(count(seg, (n) => !isBackboneParam(n))).toBe(2_631_616);
    // By module, worked out by hand: context path, spatial path, fusion, main and auxiliary heads.
    expect(count(seg, (n) => n.startsWith('cp.'))).toBe(1_695_488);
    expect(count(seg, (n) => n.startsWith('sp.'))).toBe(91_968);
    expect(count(seg, (n) => n.startsWith('ffm.'))).toBe(98_816);
    expect(count(seg, (n) => n.startsWith('conv_out.'))).toBe(595_200);
    expect(count(seg, (n) => /^conv_out(16|32)\./.test(n))).toBe(2 * 75_072);
    const classifier = new Network(backbone({ channels: 46, layers: 14, classes: 1000 }));
    const backboneCount = classifier.countParams() - (736 * 1000 + 1000);
    expect(count(seg, isBackboneParam)).toBe(backboneCount);
    // The inference network leaves the auxiliary heads out.
    expect(seg.countParams()).toBe(backboneCount + 2_631_616 - 2 * 75_072);
    expect(seg.countParams({ auxiliary: true })).toBe(backboneCount + 2_631_616);
  });

  it('names parameters as the authors’ BiSeNet.py, in its registration order', () => {
    const names = seg.params.map((p) => p.name);
    expect(names[0]).toBe('backbone.stem0.0.weight');
    expect(new Set(names).size).toBe(names.length);
    expect([...new Set(names.map((n) => n.split('.')[0]))]).toEqual([
      'backbone',
      'cp',
      'sp',
      'ffm',
      'conv_out',
      'conv_out16',
      'conv_out32',
    ]);
    expect(shape('cp.arm16.conv.conv.weight')).toEqual([128, 368, 3, 3]);
    expect(shape('cp.arm16.conv.bn.running_var')).toEqual([128]);
    expect(shape('cp.arm32.conv.conv.weight')).toEqual([128, 736, 3, 3]);
    expect(shape('cp.arm32.conv_atten.weight')).toEqual([128, 128, 1, 1]);
    expect(shape('cp.arm32.bn_atten.weight')).toEqual([128]);
    expect(shape('cp.conv_head32.conv.weight')).toEqual([128, 128, 3, 3]);
    expect(shape('cp.conv_head16.bn.bias')).toEqual([128]);
    expect(shape('cp.conv_avg.conv.weight')).toEqual([128, 736, 1, 1]);
    expect(shape('sp.conv1.conv.weight')).toEqual([64, 3, 7, 7]);
    expect(shape('sp.conv3.conv.weight')).toEqual([64, 64, 3, 3]);
    expect(shape('sp.conv_out.conv.weight')).toEqual([128, 64, 1, 1]);
    expect(shape('ffm.convblk.conv.weight')).toEqual([256, 256, 1, 1]);
    expect(shape('ffm.conv1.weight')).toEqual([64, 256, 1, 1]);
    expect(shape('ffm.conv2.weight')).toEqual([256, 64, 1, 1]);
    expect(shape('conv_out.conv.conv.weight')).toEqual([256, 256, 3, 3]);
    expect(shape('conv_out.conv_out.weight')).toEqual([19, 256, 1, 1]);
    expect(shape('conv_out16.conv.conv.weight')).toEqual([64, 128, 3, 3]);
    expect(shape('conv_out32.conv_out.weight')).toEqual([19, 64, 1, 1]);
    // No biases anywhere in the head: every conv is bias-free, BN holds the shifts.
    expect(names.filter((n) => !isBackboneParam(n) && /conv(_atten|_out|\d)?\.bias$/.test(n))).toEqual([]);
    expect(seg.backboneParamNames().every(isBackboneParam)).toBe(true);
    expect(seg.outputSize).toBe(1024 * 1024);
    expect(seg.macs).toBeGreaterThan(0);
  });

  it('initialises the head’s convolutions as kaiming_normal_(a=1): N(0, 1/fan_in)', () => {
    const weight = seg.params.find((p) => p.name === 'cp.arm32.conv.conv.weight');
    expect(weight?.init).toEqual({ kind: 'normal', std: 1 / Math.sqrt(736 * 9) });
    const bn = seg.params.find((p) => p.name === 'ffm.convblk.bn.weight');
    expect(bn?.init).toEqual({ kind: 'constant', value: 1 });
  });

  it('refuses specs it cannot build, naming the field and value', () => {
    expect(() => new SegmentationNetwork({ ...segmenter(), task: 'detection' })).toThrow(
      /task is 'detection', expected 'segmentation'/,
    );
    expect(() => new SegmentationNetwork(segmenter({ variant: 'cifar' }))).toThrow(
      /segmentation: network.variant must be 'imagenet'/,
    );
    expect(() => new SegmentationNetwork(segmenter({ auxiliary: true }))).toThrow(/auxiliary must be false/);
    expect(() => new SegmentationNetwork(segmenter({ classes: 256 }))).toThrow(
      /network.classes must be an integer in \[2, 255\].*got 256/,
    );
    expect(() => new SegmentationNetwork(segmenter({ classes: 1 }))).toThrow(/got 1/);
    expect(() => new SegmentationNetwork(segmenter({}, { inputHeight: 100 }))).toThrow(
      /segmentation.inputHeight: expected a multiple of 32/,
    );
    expect(() => new SegmentationNetwork(segmenter({}, { inputWidth: 1e9 }))).toThrow(/inputWidth/);
    expect(
      () => new SegmentationNetwork(segmenter({}, { inputHeight: 64, headLrScale: -1 } as never)),
    ).toThrow(/headLrScale/);
    // Through the dispatch on the task.
    expect(taskNetwork(segmenter())).toBeInstanceOf(SegmentationNetwork);
  });
});

describe('SegmentationNetwork forward and infer', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('gives logits at the input size, the auxiliary ones in training only, freeing the rest', () => {
    for (const [h, w, layers] of [
      [64, 64, 3],
      [64, 96, 2],
    ]) {
      const seg = new SegmentationNetwork(segmenter({ layers }, { inputHeight: h, inputWidth: w }));
      const params = initParams(seg.params, 1);
      const x = tf.randomNormal([2, h, w, 3], 0, 1, 'float32', 2) as Tensor4D;
      const before = tensorsBesidesDerived();
      const evalOut = seg.forward(params, x);
      expect(evalOut.main.shape).toEqual([2, h, w, 3]);
      expect(evalOut.aux8).toBeUndefined();
      expect(evalOut.aux16).toBeUndefined();
      evalOut.main.dispose();
      const norms: string[] = [];
      const train = seg.forward(params, x, {
        training: true,
        onBatchStats: (name) => {
          norms.push(name);
        },
      });
      expect(train.main.shape).toEqual([2, h, w, 3]);
      expect(train.aux8?.shape).toEqual([2, h, w, 3]);
      expect(train.aux16?.shape).toEqual([2, h, w, 3]);
      // Every batch norm, backbone and head, reports its moments in training mode.
      const all = seg.params.filter((p) => p.name.endsWith('.running_mean')).map((p) => p.name.slice(0, -13));
      expect([...new Set(norms)].sort()).toEqual(all.sort());
      tf.dispose([train.main, train.aux8 as Tensor, train.aux16 as Tensor]);
      expect(tensorsBesidesDerived()).toBe(before);
      x.dispose();
      disposeParams(params);
    }
  });

  it('infers a label map per image: each pixel’s argmax class as a float, nothing left behind', () => {
    const seg = new SegmentationNetwork(segmenter({ classes: 4 }));
    const params = initParams(seg.params, 3);
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 4) as Tensor4D;
    const before = tensorsBesidesDerived();
    const out = seg.infer(params, x);
    expect(tensorsBesidesDerived()).toBe(before);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(2 * seg.outputSize);
    expect(out.every((v) => Number.isInteger(v) && v >= 0 && v < 4)).toBe(true);
    // The same as the argmax of forward's logits.
    const { main } = seg.forward(params, x);
    const logits = main.dataSync();
    main.dispose();
    for (const pixel of [0, 1, 4095, 4096, 8191]) {
      const row = Array.from(logits.subarray(pixel * 4, pixel * 4 + 4));
      expect(out[pixel]).toBe(row.indexOf(Math.max(...row)));
    }
    // Bad input: wrong size, wrong channels, a missing tensor.
    const big = tf.zeros([1, 96, 64, 3]) as Tensor4D;
    expect(() => seg.infer(params, big)).toThrow(/input is 96x64, this network takes 64x64/);
    expect(() => seg.checkInput(64, 32)).toThrow(/input is 64x32/);
    const gray = tf.zeros([1, 64, 64, 1]) as Tensor4D;
    expect(() => seg.forward(params, gray)).toThrow(/input: expected 3 channels/);
    const missing: ParamMap = new Map(params);
    missing.delete('conv_out.conv_out.weight');
    expect(() => seg.infer(missing, x)).toThrow(/missing tensor 'conv_out.conv_out.weight'/);
    expect(tensorsBesidesDerived()).toBe(before + 2);
    tf.dispose([x, big, gray]);
    disposeParams(params);
  });

  it('labelMap picks the first of equal maxima, as argmax does', () => {
    const logits = tf.tensor4d([0, 1, 1, 5, 2, 2], [1, 1, 2, 3]);
    expect(Array.from(labelMap(logits))).toEqual([1, 0]);
    logits.dispose();
  });

  it('trains: gradient steps through backbone and head lower the loss on a fixed batch', () => {
    const seg = new SegmentationNetwork(segmenter({ classes: 3, layers: 2 }));
    const params = initParams(seg.params, 5);
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 6) as Tensor4D;
    // Left half class 1, right half class 2, the top rows ignored.
    const labels = new Uint8Array(2 * 64 * 64);
    labels.forEach((_, i) => {
      const row = Math.floor(i / 64) % 64;
      labels[i] = row < 4 ? 255 : i % 64 < 32 ? 1 : 2;
    });
    const target = pixelLabels(labels, 3);
    const weights = seg.params.filter((p) => p.kind === 'weight').map((p) => p.name);
    const before = tensorsBesidesDerived();
    const step = (): number => {
      const stats: BatchStats[] = [];
      const { value, grads } = gradients(
        () =>
          segmentationLoss(
            seg.forward(params, x, { training: true, onBatchStats: (_, s) => stats.push(s) }),
            target,
            1,
          ),
        weights.map((n) => params.get(n) as Tensor),
      );
      const loss = value.dataSync()[0];
      // Every head parameter gets a gradient.
      weights.forEach((n, i) => {
        if (!isBackboneParam(n)) expect(grads[i]).toBeDefined();
      });
      weights.forEach((n, i) => {
        const g = grads[i];
        if (g === undefined) return;
        const old = params.get(n) as Tensor;
        params.set(
          n,
          tf.tidy(() => tf.sub(old, tf.mul(g, 0.05))),
        );
        old.dispose();
      });
      tf.dispose([value, ...grads.filter((g) => g !== undefined)]);
      return loss;
    };
    const first = step();
    step();
    step();
    const last = step();
    expect(Number.isFinite(first)).toBe(true);
    expect(last).toBeLessThan(first);
    expect(tensorsBesidesDerived()).toBe(before);
    x.dispose();
    disposeParams(params);
  });
});
