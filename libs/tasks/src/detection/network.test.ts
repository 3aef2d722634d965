import { gradients, initBackend, tf, type Tensor, type Tensor4D } from '@rnas/engine';
import {
  countParams,
  disposeParams,
  exportParams,
  getPublishedGenotype,
  initParams,
  Network,
  Sgd,
  updateRunningStats,
  type BatchStats,
  type NetworkSpec,
  type ParamMap,
  tensorsBesidesDerived,
} from '@rnas/nas';
import type { TaskModelSpec } from '../task';
import { SSDLITE_CONFIG, type DetectionConfigInput } from './config';
import { multiboxLoss } from './loss';
import { matchPriors } from './matching';
import { isBackboneParam, DetectionNetwork } from './network';
import { importBackboneParams, replaceParams } from '../backbone';
import { priorBoxes, REFERENCE_FEATURE_MAPS } from './priors';
import { DETECTION_RECORD_SIZE, readDetectionRecord } from './record';

function backbone(overrides: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    variant: 'imagenet',
    genotype: getPublishedGenotype('RelativeNAS'),
    channels: 8,
    layers: 5,
    classes: 2,
    inChannels: 3,
    auxiliary: false,
    ...overrides,
  };
}

function detector(
  net: Partial<NetworkSpec> = {},
  detection: DetectionConfigInput = { inputSize: 64 },
): TaskModelSpec {
  return { task: 'detection', network: backbone(net), detection: { ...SSDLITE_CONFIG, ...detection } };
}

const headCount = (det: DetectionNetwork, prefix: string) =>
  countParams(det.params.filter((p) => p.name.startsWith(prefix)));

describe('DetectionNetwork structure', () => {
  const det = new DetectionNetwork(detector({ channels: 46, layers: 14, classes: 20 }, { inputSize: 320 }));

  it('has the reference head at C=46: extras 376,023 and predictors 380,772 parameters', () => {
    expect(headCount(det, 'extras.')).toBe(376_023);
    expect(headCount(det, 'classification_headers.') + headCount(det, 'regression_headers.')).toBe(380_772);
    const classifier = new Network(backbone({ channels: 46, layers: 14, classes: 1000 }));
    expect(headCount(det, 'base_net.')).toBe(classifier.countParams() - (736 * 1000 + 1000));
    expect(det.countParams()).toBe(headCount(det, 'base_net.') + 376_023 + 380_772);
  });

  it('names parameters as the reference SSD’s state dict, in its order', () => {
    const names = det.params.map((p) => p.name);
    const shape = (name: string) => det.params.find((p) => p.name === name)?.refShape;
    expect(names[0]).toBe('base_net.stem0.0.weight');
    expect(names.some((n) => /^(base_net\.)?(classifier|auxiliary_head)\./.test(n))).toBe(false);
    const groups = names.map((n) => n.split('.')[0]);
    expect([...new Set(groups)]).toEqual([
      'base_net',
      'extras',
      'classification_headers',
      'regression_headers',
    ]);
    expect(shape('extras.0.conv.0.0.weight')).toEqual([147, 736, 1, 1]);
    expect(shape('extras.0.conv.1.0.weight')).toEqual([147, 1, 3, 3]);
    expect(shape('extras.3.conv.3.running_var')).toEqual([64]);
    expect(shape('classification_headers.0.0.weight')).toEqual([368, 1, 3, 3]);
    expect(shape('classification_headers.0.0.bias')).toEqual([368]);
    expect(shape('classification_headers.1.3.weight')).toEqual([126, 736, 1, 1]);
    expect(shape('classification_headers.5.weight')).toEqual([126, 64, 1, 1]);
    expect(shape('regression_headers.4.3.bias')).toEqual([24]);
    expect(shape('regression_headers.5.bias')).toEqual([24]);
    expect(new Set(names).size).toBe(names.length);
    expect(det.backboneParamNames().every(isBackboneParam)).toBe(true);
    expect(countParams(det.params.filter((p) => det.backboneParamNames().includes(p.name)))).toBe(
      headCount(det, 'base_net.'),
    );
  });

  it('lays out 3234 priors on the maps 20, 10, 5, 3, 2, 1 at 320', () => {
    expect(det.featureMaps).toEqual([
      [20, 20, 368],
      [10, 10, 736],
      [5, 5, 512],
      [3, 3, 256],
      [2, 2, 256],
      [1, 1, 64],
    ]);
    expect(det.priors()).toEqual(priorBoxes(SSDLITE_CONFIG, REFERENCE_FEATURE_MAPS));
    expect(det.outputSize).toBe(DETECTION_RECORD_SIZE);
    expect(det.spec.detection).toEqual(SSDLITE_CONFIG);
  });

  it.each([
    [{ task: 'classification' } as Partial<TaskModelSpec>, /task is 'classification', expected 'detection'/],
    [
      { network: backbone({ variant: 'cifar' }) },
      /network.variant must be 'imagenet' \(stride-8 stem\), got 'cifar'/,
    ],
    [{ network: backbone({ auxiliary: true }) }, /network.auxiliary must be false/],
    [
      { network: backbone({ layers: 1 }) },
      /network.layers must be at least 2 \(two reduction cells\), got 1/,
    ],
    [{ network: backbone({ channels: 7 }) }, /must be even, got 7/],
    [{ network: backbone({ searchPrimitives: ['none'] }) }, /network.searchPrimitives must be unset/],
    [
      { detection: { inputSize: 100 } as never },
      /detection.inputSize: expected a multiple of 32 in \[64, 1024\], got 100/,
    ],
    [{ detection: { anchors: 3 } as never }, /detection.anchors: expected a known field/],
    [{ detection: 'ssd' as never }, /detection: expected an object, got "ssd"/],
  ])('refuses a bad spec %#', (overrides, message) => {
    expect(() => new DetectionNetwork({ ...detector(), ...overrides } as TaskModelSpec)).toThrow(message);
  });

  it('takes a spec without a detection config as SSDLite’s, and only inputs of its size', () => {
    const plain = new DetectionNetwork({ task: 'detection', network: backbone() });
    expect(plain.config).toEqual(SSDLITE_CONFIG);
    expect(() => plain.checkInput(320, 320)).not.toThrow();
    expect(() => plain.checkInput(320, 256)).toThrow(
      /detection: input is 320x256, this detector takes 320x320 \(detection.inputSize\)/,
    );
  });
});

describe('DetectionNetwork on the tensor engine', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('outputs logits and boxes for every prior at 320 and at 128, freeing its intermediates', () => {
    for (const [size, priors] of [
      [320, 3234],
      [128, (64 + 16 + 4 + 1 + 1 + 1) * 6],
    ]) {
      const det = new DetectionNetwork(detector({}, { inputSize: size }));
      const params = initParams(det.params, 1);
      const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 2) as Tensor4D;
      const before = tensorsBesidesDerived();
      const { locations, confidences } = det.forward(params, x);
      expect(locations.shape).toEqual([2, priors, 4]);
      expect(confidences.shape).toEqual([2, priors, 3]);
      expect(det.priors().length).toBe(4 * priors);
      tf.dispose([locations, confidences]);
      expect(tensorsBesidesDerived()).toBe(before);
      tf.dispose(x);
      disposeParams(params);
    }
  });

  it('infers serving records: decoded detections, best first, at most 200, nothing left behind', () => {
    const det = new DetectionNetwork(detector({ classes: 3 }, { inputSize: 64 }));
    const params = initParams(det.params, 3);
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 4) as Tensor4D;
    const before = tensorsBesidesDerived();
    const out = det.infer(params, x);
    expect(tensorsBesidesDerived()).toBe(before);
    expect(out.length).toBe(2 * DETECTION_RECORD_SIZE);
    for (const image of [0, 1]) {
      const found = readDetectionRecord(out, image);
      expect(found.length).toBeGreaterThan(0);
      expect(found.length).toBeLessThanOrEqual(200);
      expect(found.every((d, i) => i === 0 || d.score <= found[i - 1].score)).toBe(true);
      expect(found.every((d) => d.classIndex >= 0 && d.classIndex < 3 && d.score > 0.01)).toBe(true);
    }
    expect(readDetectionRecord(det.infer(params, x, { scoreThreshold: 1 }), 0)).toEqual([]);
    expect(readDetectionRecord(det.infer(params, x, { maxDetections: 5 }), 1)).toHaveLength(5);
    expect(() => det.infer(params, x, { maxDetections: 0 })).toThrow(/maxDetections must be an integer/);
    const big = tf.zeros([1, 96, 96, 3]) as Tensor4D;
    expect(() => det.infer(params, big)).toThrow(/input is 96x96, this detector takes 64x64/);
    const gray = tf.zeros([1, 64, 64, 1]) as Tensor4D;
    expect(() => det.forward(params, gray)).toThrow(/input: expected 3 channels/);
    const missing = new Map(params);
    missing.delete('regression_headers.5.bias');
    expect(() => det.forward(missing, x)).toThrow(/missing tensor 'regression_headers.5.bias'/);
    expect(tensorsBesidesDerived()).toBe(before + 2);
    tf.dispose([x, big, gray]);
    disposeParams(params);
  });

  it('trains: gradient steps through backbone and head lower the loss on a fixed batch', () => {
    const det = new DetectionNetwork(detector({ classes: 2 }, { inputSize: 64 }));
    const params = initParams(det.params, 5);
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 6) as Tensor4D;
    const targets = [
      matchPriors([0.1, 0.2, 0.6, 0.7], [1], det.priors(), 0.5),
      matchPriors([0.5, 0.5, 0.9, 0.95, 0, 0, 0.3, 0.4], [0, 1], det.priors(), 0.5),
    ];
    const weights = det.params.filter((p) => p.kind === 'weight').map((p) => p.name);
    const sgd = new Sgd({ lr: 0.05, momentum: 0.9, weightDecay: 0, gradClip: null });
    const before = tensorsBesidesDerived();
    const step = (): number => {
      const stats: [string, BatchStats][] = [];
      const { value, grads } = gradients(
        () => {
          const { locations, confidences } = det.forward(params, x, {
            training: true,
            onBatchStats: (name, s) => {
              stats.push([name, { mean: tf.keep(s.mean), variance: tf.keep(s.variance), count: s.count }]);
            },
          });
          return multiboxLoss(locations, confidences, targets).loss;
        },
        weights.map((n) => params.get(n) as Tensor),
      );
      const loss = value.dataSync()[0];
      // RelativeNAS's reduction cells (1 and 3 of 5) never read their input 0: no gradient there,
      // as in PyTorch. Every other parameter, the head's included, gets one.
      expect(
        weights
          .filter((_, i) => grads[i] === undefined)
          .every((n) => /^base_net\.cells\.[13]\.preprocess0\./.test(n)),
      ).toBe(true);
      expect(grads.filter((g) => g === undefined)).toHaveLength(6);
      // Every batch norm of backbone and head reports its moments.
      const norms = det.params
        .filter((p) => p.name.endsWith('.running_mean'))
        .map((p) => p.name.slice(0, -13));
      expect(stats.map(([name]) => name).sort()).toEqual(norms.sort());
      const named = new Map<string, Tensor>();
      weights.forEach((n, i) => {
        const g = grads[i];
        if (g !== undefined) named.set(n, g);
      });
      sgd.step(params, named);
      updateRunningStats(params, stats, 0.1);
      tf.dispose([
        value,
        ...grads.filter((g) => g !== undefined),
        ...stats.flatMap(([, s]) => [s.mean, s.variance]),
      ]);
      return loss;
    };
    const losses = [step(), step(), step(), step(), step()];
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[4]).toBeLessThan(losses[0]);
    expect((params.get('extras.3.conv.3.running_mean') as Tensor).dataSync().some((v) => v !== 0)).toBe(true);
    // The optimiser's momentum buffers are what stays.
    expect(tensorsBesidesDerived()).toBe(before + weights.length - 6);
    sgd.loadMomentumBuffers(new Map());
    expect(tensorsBesidesDerived()).toBe(before);
    tf.dispose(x);
    disposeParams(params);
  });

  it('imports a classification model’s backbone by name and refuses another backbone', () => {
    const det = new DetectionNetwork(detector());
    const source = backbone({ classes: 10, auxiliary: true });
    const classifier = new Network(source);
    const trained = initParams(classifier.params, 7);
    const weights = exportParams(classifier.params, trained);
    const params: ParamMap = initParams(det.params, 8);
    const before = tensorsBesidesDerived();
    const imported = importBackboneParams(det, { spec: source, weights });
    expect([...imported.keys()].sort()).toEqual(det.backbone.params.map((p) => p.name).sort());
    replaceParams(params, imported);
    expect(imported.size).toBe(0);
    expect(tensorsBesidesDerived()).toBe(before);
    for (const name of [
      'stem0.0.weight',
      'cells.4._ops.0.op.1.weight',
      'cells.2.preprocess1.op.2.running_var',
    ]) {
      expect(Array.from((params.get(`base_net.${name}`) as Tensor).dataSync())).toEqual(
        Array.from((trained.get(name) as Tensor).dataSync()),
      );
    }
    const other = (overrides: Partial<NetworkSpec>, w = weights) =>
      importBackboneParams(det, { spec: { ...source, ...overrides }, weights: w }, 'model cls:2');
    expect(() => other({ genotype: getPublishedGenotype('DARTS_V2') })).toThrow(
      /model cls:2: its genotype differs from the backbone's/,
    );
    expect(() => other({ channels: 16 })).toThrow(/model cls:2: channels is 16, the backbone has 8/);
    expect(() => other({ layers: 8 })).toThrow(/layers is 8, the backbone has 5/);
    expect(() => other({ variant: 'cifar' })).toThrow(/variant is 'cifar', the backbone has 'imagenet'/);
    const { ['cells.0.preprocess0.conv_1.weight']: _dropped, ...partial } = weights;
    expect(() => other({}, partial)).toThrow(
      /model cls:2: missing tensor 'base_net.cells.0.preprocess0.conv_1.weight'/,
    );
    const stray = { ...weights, 'cells.99.weight': weights['stem0.0.weight'] };
    expect(() => other({}, stray)).toThrow(/unexpected tensor 'base_net.cells.99.weight'/);
    const misshapen = { ...weights, 'stem0.0.weight': weights['stem0.1.weight'] };
    expect(() => other({}, misshapen)).toThrow(
      /tensor 'base_net.stem0.0.weight' has shape \[4\], expected \[4, 3, 3, 3\]/,
    );
    expect(tensorsBesidesDerived()).toBe(before);
    disposeParams(params);
    disposeParams(trained);
  });
});
