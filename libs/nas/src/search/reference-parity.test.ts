// The weight set against the authors' own search network (model_search.py's NetworkCIFAR), through
// the fixture libs/fixtures/reference/make_fixtures.py wrote with PyTorch: the weight set IS that
// network's state dict (same names, same shapes, loadable both ways), and one training step of a
// genotype whose nodes pick the same input and op twice trains the one shared module twice,
// exactly as the reference does (train_search.train(), one step).
import { readFileSync } from 'node:fs';
import { initBackend, readSafetensors, tf, type BackendName } from '@rnas/engine';
import { parityFixture } from '@rnas/fixtures';
import { nhwc, relError } from '../test-util';
import { genotypeFromJson, type OpName } from '../genotype';
import { labelsTensor } from '../loss';
import { disposeParams, exportParams, importParams } from '../params';
import { Sgd } from '../sgd';
import { trainStep } from '../train-step';
import { TrainableSearchNetwork, type SearchNetworkConfig } from './search-network';
import { WeightSet, weightSetLayout } from './weight-set';

const NAME = 'search_shared_c4_l5';

interface SearchFixtureSpec {
  genotype: unknown;
  primitives: OpName[];
  channels: number;
  layers: number;
  classes: number;
  lr: number;
  momentum: number;
  weight_decay: number;
  grad_clip: number;
}

const spec = JSON.parse(readFileSync(parityFixture(`${NAME}.spec.json`), 'utf8')) as SearchFixtureSpec;
const genotype = genotypeFromJson(spec.genotype);
const config: SearchNetworkConfig = {
  layers: spec.layers,
  channels: spec.channels,
  classes: spec.classes,
  inChannels: 3,
  steps: 4,
  primitives: spec.primitives,
};

describe('the weight set is the reference search network’s state dict', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('has its names and shapes, 14 x 7 modules a cell', async () => {
    const reference = await readSafetensors(parityFixture(`${NAME}.weights.safetensors`));
    const mine = WeightSet.initialise(config, 1).toTensors().tensors;
    expect(Object.keys(mine).sort()).toEqual(Object.keys(reference.tensors).sort());
    for (const [name, t] of Object.entries(reference.tensors)) {
      expect([name, mine[name].dtype, mine[name].shape]).toEqual([name, t.dtype, t.shape]);
    }
    const modules = new Set(
      weightSetLayout(config)
        .map((p) => /^cells\.0\._ops\.(\d+)\./.exec(p.name)?.[1])
        .filter((k) => k !== undefined),
    );
    // Pools and the identity have no tensors; every other primitive holds some at each index.
    expect(Math.max(...[...modules].map(Number))).toBe(14 * 7 - 1);
  });

  it('imports the reference state dict and exports it back unchanged', async () => {
    const reference = await readSafetensors(parityFixture(`${NAME}.weights.safetensors`));
    const w = WeightSet.fromTensors(config, reference, 'reference');
    const back = w.toTensors().tensors;
    for (const [name, t] of Object.entries(reference.tensors)) {
      if (t.dtype === 'F32') expect(back[name].data).toEqual(t.data);
    }
  });

  it('refuses a weight set of the old per-edge layout with a reason', () => {
    const old = { tensors: {}, metadata: { format: 'rnas-weight-set/1' } };
    expect(() => WeightSet.fromTensors(config, old, 'checkpoint')).toThrow(
      /format is "rnas-weight-set\/1".*older version that kept one module per edge slot/,
    );
  });
});

describe(`${NAME}: one reference training step of a genotype with shared modules`, () => {
  it('shares node 0’s module between its two slots in both cell types', () => {
    const network = new TrainableSearchNetwork(config, genotype);
    const cell0 = network.cells[0].opNames;
    const cell1 = network.cells[1].opNames;
    expect(cell0[0]).toBe(cell0[1]);
    expect(cell1[0]).toBe(cell1[1]);
    // Normal cell: node 0 reads s0 with sep_conv_3x3 (primitive 3): module (0 + 0) * 7 + 3.
    expect(cell0[0]).toBe('cells.0._ops.3');
    // Its tensors are listed once.
    const names = network.allParams.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each<BackendName>(['cpu', 'wasm'])(
    'matches PyTorch on %s: loss, gradient norm, every tensor',
    async (backend) => {
      await initBackend(backend);
      const reference = await readSafetensors(parityFixture(`${NAME}.weights.safetensors`));
      const batch = await readSafetensors(parityFixture(`${NAME}.batch.safetensors`));
      const after = (await readSafetensors(parityFixture(`${NAME}.after.safetensors`))).tensors;
      const before = tf.memory().numTensors;
      const w = WeightSet.fromTensors(config, reference, 'reference');
      const network = new TrainableSearchNetwork(config, genotype);
      const params = importParams(network.allParams, w.paramsFor(genotype));
      const x = nhwc(batch.tensors.input);
      const labels = labelsTensor(batch.tensors.labels.data as Float32Array, config.classes);
      const sgd = new Sgd({
        lr: spec.lr,
        momentum: spec.momentum,
        weightDecay: spec.weight_decay,
        gradClip: spec.grad_clip,
      });
      const result = trainStep(network, params, x, labels, sgd, {});
      const exported = exportParams(network.allParams, params);
      const lossErr =
        Math.abs(result.loss - (after.loss.data[0] as number)) / Math.abs(after.loss.data[0] as number);
      const normErr =
        Math.abs(result.gradNorm - (after.grad_norm.data[0] as number)) /
        Math.abs(after.grad_norm.data[0] as number);
      expect(lossErr).toBeLessThan(1e-4);
      expect(normErr).toBeLessThan(1e-4);
      expect(relError(result.logits.dataSync(), after.logits.data as Float32Array)).toBeLessThan(1e-4);
      let worst = 0;
      let worstName = '';
      for (const p of network.allParams) {
        const e = relError(exported[p.name].data as Float32Array, after[p.name].data as Float32Array);
        if (e > worst) [worst, worstName] = [e, p.name];
      }
      expect([worstName, worst < 1e-3]).toEqual([worstName, true]);
      // The shared module's batch norm was updated twice: PyTorch's counter says so, and our
      // running statistics match PyTorch's after both updates (checked above with every tensor).
      expect(after['cells.0._ops.3.op.3.num_batches_tracked'].data[0]).toBe(2n);
      tf.dispose([result.logits, x, labels]);
      sgd.dispose();
      disposeParams(params);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});
